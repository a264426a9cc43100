package main

import (
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/demo"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

var (
	demoBaseRE = regexp.MustCompile(`Open (http://\S+)/ in a browser`)
	// demoLineRE matches one sample line of the terminal output: "  200 OK   http://…".
	demoLineRE = regexp.MustCompile(`(?m)^  (\d{3}) [A-Za-z ]+?\s+(http://\S+)$`)
	// demoRowRE matches one sample row of the page: its status cell, then its link.
	demoRowRE = regexp.MustCompile(`data-status="(\d{3})".*?<a href="([^"]+)"`)
)

// startDemo runs `ezdfsd demo` in dir on free ports until the test ends, and returns its
// terminal output once it serves.
func startDemo(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--dir", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
			"--shutdown-timeout", "2s"}, nil, &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("demo exit %d\n%s", code, errb.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop")
		}
	})
	// Generous: writing 64 MiB and importing it on two busy cores.
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Stop with Ctrl-C.") {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before serving:\n%s\n%s", code, out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not print its URLs:\n%s\n%s", out.String(), errb.String())
		}
	}
	return out.String()
}

// TestDemoServesWhatItLists: the demo's page at "/" and its terminal output list every sample
// with its expected status, and requesting each listed URL gets exactly that status.
func TestDemoServesWhatItLists(t *testing.T) {
	out := startDemo(t, t.TempDir())
	t.Logf("demo output:\n%s", out)
	if strings.Contains(out, "map[") {
		t.Errorf("terminal output shows Go map syntax:\n%s", out)
	}
	m := demoBaseRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no base URL in the output:\n%s", out)
	}
	base := m[1]

	// What the terminal says: URL → status.
	printed := map[string]int{}
	for _, l := range demoLineRE.FindAllStringSubmatch(out, -1) {
		printed[l[2]], _ = strconv.Atoi(l[1])
	}

	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// What the page says: URL → status.
	listed := map[string]int{}
	for _, r := range demoRowRE.FindAllStringSubmatch(string(page), -1) {
		listed[base+html.UnescapeString(r[2])], _ = strconv.Atoi(r[1])
	}

	samples := demo.Samples()
	for _, s := range samples {
		u := base + s.Path()
		if got, ok := listed[u]; !ok || got != s.Status {
			t.Errorf("page lists %s with status %d (listed: %v), want %d", u, got, ok, s.Status)
		}
		if got, ok := printed[u]; !ok || got != s.Status {
			t.Errorf("terminal lists %s with status %d (listed: %v), want %d", u, got, ok, s.Status)
		}
	}
	if len(listed) != len(samples) || len(printed) != len(samples) {
		t.Errorf("page lists %d URLs, terminal %d; want the %d samples", len(listed), len(printed), len(samples))
	}

	// Every URL the page and the terminal show answers with the status they show.
	for u, want := range listed {
		if p, ok := printed[u]; ok && p != want {
			t.Errorf("%s: page says %d, terminal says %d", u, want, p)
		}
		resp, err := client.Get(u)
		if err != nil {
			t.Errorf("GET %s: %v", u, err)
			continue
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("GET %s: reading the body: %v", u, err)
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, but the demo lists %d", u, resp.StatusCode, want)
		}
		if resp.StatusCode == 200 && (resp.ContentLength <= 0 || n != resp.ContentLength) {
			t.Errorf("GET %s: %d body bytes, Content-Length %d", u, n, resp.ContentLength)
		}
	}
}

// TestDemoTakenPort: a port that is already taken fails at once with exit 2 and a message naming
// the setting and the way out, before any sample is written.
func TestDemoTakenPort(t *testing.T) {
	for _, setting := range []string{"listen", "metrics-listen"} {
		t.Run(setting, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			addr := taken.Addr().String()
			args := map[string]string{"listen": "127.0.0.1:0", "metrics-listen": "127.0.0.1:0"}
			args[setting] = addr
			dir := t.TempDir()
			code, out, errOut := runCmd(t, nil, "demo", "--dir", dir, "--listen", args["listen"], "--metrics-listen", args["metrics-listen"])
			t.Logf("exit %d, stderr:\n%s", code, errOut)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s", code, out)
			}
			for _, want := range []string{
				"cannot listen on " + addr + " (--" + setting + ", from flag:--" + setting + ")",
				"already in use",
				"--listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0",
			} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errOut)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "var")); !os.IsNotExist(err) {
				t.Errorf("samples (64 MiB) were written before the port was checked (stat var/: %v)", err)
			}
		})
	}
}
