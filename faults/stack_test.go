package faults

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
)

// logBuffer is a goroutine-safe log sink the tests search afterwards.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is one daemon serving on loopback, built and run exactly as `ezdfsd serve` does.
type running struct {
	app         *daemon.App
	filesAddr   string
	metricsAddr string
	logs        *logBuffer
	stop        func()
}

// url returns the files listener URL of path (which starts with "/").
func (r *running) url(path string) string { return "http://" + r.filesAddr + path }

// startDaemon loads args with config.Load (no environment), builds the App with daemon.New and
// runs it until the test ends (or stop is called). --listen and --metrics-listen default to free
// loopback ports.
func startDaemon(t *testing.T, args ...string) *running {
	t.Helper()
	base := []string{"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--log-level=debug", "--served-by=faults"}
	cfg, err := config.Load(append(base, args...), nil)
	if err != nil {
		t.Fatalf("config.Load(%q): %v", args, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := daemon.New(ctx, cfg, logger, "faults-test")
	if err != nil {
		cancel()
		t.Fatalf("daemon.New: %v", err)
	}
	r := &running{app: app, logs: logs}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, "", func(files, metrics string) {
			r.filesAddr, r.metricsAddr = files, metrics
			close(ready)
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("daemon not ready after 30s")
	}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("daemon Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Error("daemon did not stop within 60s")
			}
		})
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("daemon log (tail):\n%s", tail(logs.String(), 60))
		}
	})
	return r
}

// checkNoPanic fails the test if the daemon logged a panic (the handler's recover logs
// "panic serving request"; net/http's own recover logs "http: panic serving").
func checkNoPanic(t *testing.T, r *running) {
	t.Helper()
	if s := r.logs.String(); strings.Contains(strings.ToLower(s), "panic") {
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(strings.ToLower(line), "panic") {
				t.Errorf("daemon logged a panic: %s", line)
			}
		}
	}
}

// checkHealthy asserts the daemon still answers a known file with 200 and its bytes.
func checkHealthy(t *testing.T, r *running, path string, want []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(r.url(path))
	if err != nil {
		t.Fatalf("daemon not healthy: GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(res.Body); err != nil {
		t.Fatalf("daemon not healthy: reading %s: %v", path, err)
	}
	if res.StatusCode != http.StatusOK || !bytes.Equal(body.Bytes(), want) {
		t.Fatalf("daemon not healthy: GET %s = %d, %d bytes", path, res.StatusCode, body.Len())
	}
}

// writeFile writes data at root/name, creating directories.
func writeFile(t *testing.T, root, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pattern returns n bytes of a position-dependent pattern seeded by tag.
func pattern(tag string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag[i%len(tag)] ^ byte(i/len(tag))
	}
	return b
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
