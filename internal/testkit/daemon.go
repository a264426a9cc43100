package testkit

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
)

// Version is the version string StartDaemon gives the daemon (ezdfsd_build_info{version}).
const Version = "test"

// Daemon is one ezdfsd running in-process on loopback, built exactly as `ezdfsd serve` builds it.
type Daemon struct {
	App         *daemon.App
	Cfg         *config.Config
	FilesAddr   string // host:port of the file listener
	URL         string // http://host:port of the file listener
	MetricsAddr string // host:port of the metrics listener ("" when off)
	MetricsURL  string // http://host:port of the metrics listener ("" when off)
	Logs        *SyncBuffer
	stop        func()
}

// Stop shuts the daemon down (gracefully, as on SIGTERM) and waits for Run to return; later
// calls do nothing. StartDaemon registers it as a cleanup.
func (d *Daemon) Stop() { d.stop() }

// StartDaemon loads args and environ with config.Load and Validate, as the serve command does,
// builds the App with daemon.New and runs it until the test ends or Stop is called. Debug logs go
// to Logs, as text or, with --log-format=json, one JSON object per line as `ezdfsd serve` writes
// them; their tail is printed when the test failed.
func StartDaemon(t testing.TB, args, environ []string) *Daemon {
	t.Helper()
	cfg, err := config.Load(args, environ)
	if err != nil {
		t.Fatalf("config.Load(%q): %v", args, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.Validate: %v", err)
	}
	logs := &SyncBuffer{}
	var lh slog.Handler = slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if cfg.LogFormat == "json" {
		lh = slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	logger := slog.New(lh)
	ctx, cancel := context.WithCancel(context.Background())
	app, err := daemon.New(ctx, cfg, logger, Version)
	if err != nil {
		cancel()
		t.Fatalf("daemon.New: %v", err)
	}
	type addrs struct{ files, metrics string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, "", func(files, metrics string) { ready <- addrs{files, metrics} })
	}()
	d := &Daemon{App: app, Cfg: cfg, Logs: logs}
	select {
	case a := <-ready:
		d.FilesAddr, d.URL = a.files, "http://"+a.files
		if a.metrics != "" {
			d.MetricsAddr, d.MetricsURL = a.metrics, "http://"+a.metrics
		}
	case err := <-done:
		cancel()
		t.Fatalf("daemon stopped before it was ready: %v\nlogs:\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("daemon not ready after 10s")
	}
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("daemon Run: %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Errorf("daemon did not stop within 40s")
			}
		})
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("daemon logs (tail):\n%s", Tail(logs.String(), 8000))
		}
	})
	return d
}

// Tail returns the last n bytes of s, marked with "…" when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
