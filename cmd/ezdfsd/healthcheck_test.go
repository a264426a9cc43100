package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

// dockerHealthcheck returns the exec-form command of the Dockerfile's HEALTHCHECK, the one a
// container runtime runs every interval.
func dockerHealthcheck(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// HEALTHCHECK [OPTIONS] CMD ["/ezdfsd", ...], possibly over continuation lines.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	m := regexp.MustCompile(`(?m)^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])\s*$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("Dockerfile: no HEALTHCHECK ... CMD [...] line")
	}
	var argv []string
	if err := json.Unmarshal([]byte(m[1]), &argv); err != nil {
		t.Fatalf("Dockerfile HEALTHCHECK CMD %s: %v", m[1], err)
	}
	if len(argv) < 2 || argv[0] != "/ezdfsd" || argv[1] != "healthcheck" {
		t.Fatalf("Dockerfile HEALTHCHECK CMD %q: want /ezdfsd healthcheck ...", argv)
	}
	return argv
}

// withURLHost returns args with the host:port of the --url value replaced by host.
func withURLHost(t *testing.T, args []string, host string) []string {
	t.Helper()
	out := append([]string(nil), args...)
	for i, a := range out {
		prefix, raw := "", ""
		switch {
		case (a == "--url" || a == "-url") && i+1 < len(out):
			i, raw = i+1, out[i+1]
		case strings.HasPrefix(a, "--url=") || strings.HasPrefix(a, "-url="):
			prefix, raw = a[:strings.Index(a, "=")+1], a[strings.Index(a, "=")+1:]
		default:
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("--url %q: %v", raw, err)
		}
		u.Host = host
		out[i] = prefix + u.String()
		return out
	}
	t.Fatalf("no --url in %q", args)
	return nil
}

// runHealthcheckCmd runs one ezdfsd command line in-process, as main would, and returns its exit
// code and output.
func runHealthcheckCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb testkit.SyncBuffer
	code = run(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

var listeningAddrRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServeForHealth starts `ezdfsd serve` on an empty SQLite store with both listeners on
// ephemeral ports and returns the metrics address and a stop function that waits for the exit.
func startServeForHealth(t *testing.T) (metricsAddr string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--metadata=sqlite", "--sqlite=" + filepath.Join(dir, "ezdfsd.sqlite"),
			"--mount-point=" + dir, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--shutdown-timeout=2s"},
			nil, &stdout, &stderr)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit %d\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(stop)
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// Two listeners log "listening" in no fixed order: the metrics one serves /metrics.
		for _, m := range listeningAddrRE.FindAllStringSubmatch(stderr.String(), -1) {
			resp, err := client.Get("http://" + m[1] + "/metrics")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m[1], stop
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before listening:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no metrics listener within 20s:\n%s", stderr.String())
	return "", nil
}

// TestHealthcheckAgainstTheDaemon runs the Dockerfile's HEALTHCHECK command, with its own flags,
// against a real daemon's /healthz (pointed at the ephemeral metrics port): exit 0 while the
// daemon runs, non-zero once it has stopped.
func TestHealthcheckAgainstTheDaemon(t *testing.T) {
	argv := dockerHealthcheck(t)
	addr, stop := startServeForHealth(t)
	args := withURLHost(t, argv[1:], addr)

	code, out, errOut := runHealthcheckCmd(t, args...)
	if code != 0 || out != "ok\n" || errOut != "" {
		t.Fatalf("%q against a running daemon: exit %d, stdout %q, stderr %q; want 0, \"ok\\n\", nothing", args, code, out, errOut)
	}

	stop()
	code, out, errOut = runHealthcheckCmd(t, args...)
	t.Logf("after stop: exit %d, stderr %q", code, errOut)
	if code != 1 || out != "" || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("%q against a stopped daemon: exit %d, stdout %q, stderr %q; want 1 and connection refused", args, code, out, errOut)
	}
}

// TestHealthcheckFailures: anything but a 200 within the timeout is exit 1 with the reason on
// stderr; a malformed command line is exit 2.
func TestHealthcheckFailures(t *testing.T) {
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
	}
	hang := make(chan struct{})
	defer close(hang)
	tests := []struct {
		name    string
		handler http.Handler
		flags   []string
		code    int
		stderr  string
	}{
		{"200", status(http.StatusOK), nil, 0, ""},
		{"503", status(http.StatusServiceUnavailable), nil, 1, "answered 503 Service Unavailable"},
		{"500", status(http.StatusInternalServerError), nil, 1, "answered 500 Internal Server Error"},
		{"204", status(http.StatusNoContent), nil, 1, "answered 204 No Content"},
		{"404", http.NotFoundHandler(), nil, 1, "answered 404 Not Found"},
		{"no answer within --timeout", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-hang:
			}
		}), []string{"--timeout=200ms"}, 1, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			args := append([]string{"healthcheck", "--url", srv.URL + "/healthz"}, tt.flags...)
			code, out, errOut := runHealthcheckCmd(t, args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) || (tt.code == 0) != (out == "ok\n") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stderr containing %q", code, out, errOut, tt.code, tt.stderr)
			}
			if tt.code != 0 && !strings.HasPrefix(errOut, "healthcheck: ") {
				t.Errorf("stderr %q does not start with \"healthcheck: \"", errOut)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(status(http.StatusOK))
		u := srv.URL + "/healthz"
		srv.Close() // nothing listens on that port any more
		code, _, errOut := runHealthcheckCmd(t, "healthcheck", "--url", u)
		if code != 1 || !strings.Contains(errOut, "connection refused") {
			t.Fatalf("exit %d, stderr %q; want 1, connection refused", code, errOut)
		}
	})

	for _, args := range [][]string{
		{"healthcheck", "--url"},
		{"healthcheck", "--bogus"},
		{"healthcheck", "--timeout", "soon"},
		{"healthcheck", "--url", "http://[::1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runHealthcheckCmd(t, args...)
			if code != 2 || out != "" || errOut == "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 with a message", code, out, errOut)
			}
		})
	}
}
