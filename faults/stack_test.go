package faults

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

// running is one daemon serving on loopback, built and run exactly as `ezdfsd serve` does.
type running struct{ *testkit.Daemon }

// url returns the files listener URL of path (which starts with "/").
func (r *running) url(path string) string { return r.URL + path }

// startDaemon runs the daemon from args (no environment) until the test ends (or Stop is
// called). --listen and --metrics-listen default to free loopback ports.
func startDaemon(t *testing.T, args ...string) *running {
	t.Helper()
	base := []string{"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--log-level=debug", "--served-by=faults"}
	return &running{testkit.StartDaemon(t, append(base, args...), nil)}
}

// checkNoPanic fails the test if the daemon logged a panic (the handler's recover logs
// "panic serving request"; net/http's own recover logs "http: panic serving").
func checkNoPanic(t *testing.T, r *running) {
	t.Helper()
	if s := r.Logs.String(); strings.Contains(strings.ToLower(s), "panic") {
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
