package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/ops"
)

// closingServer accepts TCP connections and closes them at once: a database host whose
// MariaDB is down behind a proxy or restarting. Unlike a refused port, the MySQL driver
// logs a line of its own for every connection attempt ("packets.go:58 unexpected EOF").
func closingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// jsonKeys returns the top-level keys of the JSON object line, in order, duplicates included
// (encoding/json's Unmarshal would silently keep the last of two "msg" keys).
func jsonKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("value of %q: %w", tok, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return keys, nil
}

// TestLogsWhileDatabaseDown runs the daemon as `ezdfsd serve --log-format=json` does (the logger
// from ops.NewLogger) against a database host that closes every connection, sends 300
// requests, and checks every line written meanwhile, the driver's own lines included: each is
// one JSON object with one "msg" key, and each kind of warning or error appears at most once
// per ops.DefaultLogRepeatInterval of the run (plus the first), the later ones carrying the
// count they stand for.
func TestLogsWhileDatabaseDown(t *testing.T) {
	args := []string{
		"--metadata=mysql", "--mysql-dsn=ezp:not-the-password@tcp(" + closingServer(t) + ")/ezp",
		"--mount-point=" + t.TempDir(), "--listen=127.0.0.1:0", "--metrics-listen=",
		"--log-format=json", "--shutdown-timeout=2s",
	}
	cfg, err := config.Load(args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	logger, err := ops.NewLogger(logs, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := daemon.New(ctx, cfg, logger, testkit.Version)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, "", func(files, _ string) { ready <- files }) }()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("daemon stopped: %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	client := newClient(t, 1)
	start := time.Now()
	const requests = 300
	for i := range requests {
		if r := do(t, client, base, "GET", fmt.Sprintf("/%sdown/%d.jpg", imgX, i)); r.Code != 503 {
			t.Fatalf("request %d with the database down: %d, want 503", i, r.Code)
		}
	}
	elapsed := time.Since(start)
	stop() // no line is written after this
	out := logs.String()
	t.Logf("database down: %d requests in %v wrote %d bytes of log in %d lines",
		requests, elapsed.Round(time.Millisecond), len(out), strings.Count(out, "\n"))

	// Every kind may appear once, then once per interval of the run (rounded up).
	maxPerKind := 1 + int(math.Ceil(float64(elapsed)/float64(ops.DefaultLogRepeatInterval)))
	perKind := map[string]int{}
	var driverLines, lookupLines, suppressed int
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		keys, err := jsonKeys(line)
		if err != nil {
			t.Errorf("line %d is not valid JSON: %v\n%s", i+1, err, line)
			continue
		}
		n := 0
		for _, k := range keys {
			if k == "msg" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("line %d has %d \"msg\" keys:\n%s", i+1, n, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		msg, _ := m["msg"].(string)
		if level, _ := m["level"].(string); level == "WARN" || level == "ERROR" {
			perKind[level+" "+msg]++
		}
		if n, ok := m[ops.SuppressedKey].(float64); ok {
			suppressed += int(n)
		}
		switch {
		case strings.HasPrefix(msg, "mysql driver: "):
			driverLines++
			if !strings.Contains(msg, "EOF") {
				t.Errorf("driver line lost the driver's text: %s", line)
			}
		case msg == "metadata lookup failed":
			lookupLines++
		}
		if strings.Contains(line, "not-the-password") {
			t.Errorf("password in the log: %s", line)
		}
	}
	if driverLines == 0 || lookupLines == 0 {
		t.Fatalf("%d driver lines and %d lookup-failure lines; the test no longer sees the outage:\n%s",
			driverLines, lookupLines, testkit.Tail(out, 4000))
	}
	for kind, n := range perKind {
		if n > maxPerKind {
			t.Errorf("%q written %d times in %v; want at most %d (one per %v)", kind, n,
				elapsed.Round(time.Millisecond), maxPerKind, ops.DefaultLogRepeatInterval)
		}
	}
	t.Logf("kinds: %v; %d lines held back and counted in \"suppressed\"", perKind, suppressed)
}
