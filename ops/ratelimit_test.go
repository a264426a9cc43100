package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// manualTimers stands for time.AfterFunc in a rate-limiting handler on a fake clock: it keeps
// what is scheduled, and the test runs it.
type manualTimers struct {
	delays []time.Duration
	funcs  []func()
}

func (m *manualTimers) after(d time.Duration, f func()) {
	m.delays, m.funcs = append(m.delays, d), append(m.funcs, f)
}

// run runs and forgets everything scheduled so far.
func (m *manualTimers) run() {
	funcs := m.funcs
	m.delays, m.funcs = nil, nil
	for _, f := range funcs {
		f()
	}
}

// fakeClock is a settable clock for NewRateLimitHandler.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// jsonLines parses every line of out as a JSON object, failing the test on any that is not.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, line)
		}
		lines = append(lines, m)
	}
	return lines
}

// dbDown is what the store returns while the database refuses connections: an error whose
// text names the requested file and the server address, and whose class does not change.
func dbDown(name string) error {
	unavailable := errors.New("metadata unavailable")
	op := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 13306},
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	return fmt.Errorf("sqlstore: lookup %q in ezdfsfile: %w: %w", name, unavailable, op)
}

func TestRateLimitHandlerOneLinePerIntervalWithCount(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	l := slog.New(newRateLimitHandler(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock.now, (&manualTimers{}).after))

	// 300 failing requests, one every 100 ms: 30 s of an outage.
	for i := range 300 {
		l.Error("metadata lookup failed", "request_id", fmt.Sprint(i), "error", dbDown(fmt.Sprintf("var/x/%d.jpg", i)))
		l.Info("request", "status", 503) // the access log is never limited
		clock.advance(100 * time.Millisecond)
	}
	var errorsWritten, requests, suppressed int
	var counts []int
	for _, m := range jsonLines(t, buf.String()) {
		switch m["msg"] {
		case "request":
			requests++
		case "metadata lookup failed":
			errorsWritten++
			n, _ := m[SuppressedKey].(float64)
			counts = append(counts, int(n))
			suppressed += int(n)
			if !strings.Contains(m["error"].(string), "connection refused") {
				t.Errorf("error text not kept in full: %v", m["error"])
			}
		}
	}
	if requests != 300 {
		t.Errorf("access lines: %d, want 300", requests)
	}
	// Lines at 0 s, 10 s and 20 s; the first in full, the others with 99 held back each.
	if errorsWritten != 3 || fmt.Sprint(counts) != "[0 99 99]" {
		t.Errorf("error lines %d with suppressed counts %v, want 3 with [0 99 99]\n%s", errorsWritten, counts, buf.String())
	}
	// The count of the last interval comes with the next line of the kind.
	clock.advance(10 * time.Second)
	buf.Reset()
	l.Error("metadata lookup failed", "error", dbDown("var/x/late.jpg"))
	if m := jsonLines(t, buf.String()); len(m) != 1 || m[0][SuppressedKey] != float64(99) {
		t.Errorf("line after the outage: %v, want suppressed=99", m)
	}
}

func TestRateLimitHandlerKinds(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	l := slog.New(newRateLimitHandler(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock.now, (&manualTimers{}).after))
	timeout := fmt.Errorf("sqlstore: lookup %q: %w: %w", "a", errors.New("metadata unavailable"), context.DeadlineExceeded)

	l.Error("metadata lookup failed", "error", dbDown("a.jpg"))
	l.Error("metadata lookup failed", "error", dbDown("b.jpg"))                      // other name, same kind: dropped
	l.Error("metadata lookup failed", "error", timeout)                              // other error class: written
	l.Error("opening storage object", "error", dbDown("a.jpg"))                      // other message: written
	l.Warn("metadata lookup failed", "error", dbDown("a.jpg"))                       // other level: written
	l.With("component", "x").Error("metadata lookup failed", "err", dbDown("c.jpg")) // derived handler shares the counts: dropped
	l.Debug("metadata lookup failed", "error", dbDown("a.jpg"))                      // below the level: discarded by JSONHandler
	l.Info("listening", "addr", "127.0.0.1:8081")
	l.Info("listening", "addr", "127.0.0.1:9181") // info lines are never limited

	lines := jsonLines(t, buf.String())
	var got []string
	for _, m := range lines {
		got = append(got, fmt.Sprint(m["level"], " ", m["msg"]))
	}
	want := []string{
		"ERROR metadata lookup failed", "ERROR metadata lookup failed", "ERROR opening storage object",
		"WARN metadata lookup failed", "INFO listening", "INFO listening",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(lines[1]["error"].(string), "deadline exceeded") {
		t.Errorf("second line is not the timeout: %v", lines[1])
	}
}

func TestRateLimitHandlerTableFullNeverLosesANewKind(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	l := slog.New(newRateLimitHandler(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock.now, (&manualTimers{}).after))
	for i := range maxLogKinds + 10 {
		l.Warn(fmt.Sprintf("kind %d", i))
	}
	if n := len(jsonLines(t, buf.String())); n != maxLogKinds+10 {
		t.Fatalf("%d lines for %d distinct kinds", n, maxLogKinds+10)
	}
}

func TestNewLoggerRateLimitsRepeatedErrors(t *testing.T) {
	var buf syncBuffer // the end-of-interval write comes from a timer
	l, err := NewLogger(&buf, "json", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Error("metadata lookup failed", "error", dbDown(fmt.Sprintf("var/x/%d.jpg", i)))
	}
	// 50 lines in far less than DefaultLogRepeatInterval: only the first is written.
	if lines := jsonLines(t, buf.String()); len(lines) != 1 {
		t.Fatalf("%d lines for 50 repeated errors, want 1:\n%s", len(lines), buf.String())
	}
	// On exit, the last one held back, with the count of the 48 others.
	WriteHeldLines(l)
	if lines := jsonLines(t, buf.String()); len(lines) != 2 || lines[1][SuppressedKey] != float64(48) {
		t.Fatalf("after WriteHeldLines: %v, want a second line with suppressed=48", lines)
	}
}

func TestNewLoggerWithoutRateLimit(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, "json", slog.LevelInfo, WithRepeatInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Warn("import: file failed", "name", fmt.Sprintf("var/x/%d.jpg", i), "err", dbDown("x"))
	}
	if lines := jsonLines(t, buf.String()); len(lines) != 50 {
		t.Fatalf("%d lines for 50 failed files, want 50 with WithRepeatInterval(0)", len(lines))
	}
}

// TestRateLimitHandlerWritesTheLastCountAtTheIntervalsEnd: when a burst stops, its size still
// reaches the log: at the end of the interval, the last line dropped is written with the count
// of the others, once; a line of the kind after the interval, before that write, carries the
// count itself and the write does nothing.
func TestRateLimitHandlerWritesTheLastCountAtTheIntervalsEnd(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	timers := &manualTimers{}
	var buf bytes.Buffer
	l := slog.New(newRateLimitHandler(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock.now, timers.after))
	burst := func(from, n int) {
		for i := from; i < from+n; i++ {
			l.With("component", "s3").Error("s3 get failed", "request_id", fmt.Sprint(i), "error", dbDown("a"))
			clock.advance(100 * time.Millisecond)
		}
	}
	lines := func() []map[string]any {
		m := jsonLines(t, buf.String())
		buf.Reset()
		return m
	}

	burst(0, 5) // 0 written, 1..4 dropped: one write scheduled, at the end of the first line's interval
	if m := lines(); len(m) != 1 || m[0]["request_id"] != "0" {
		t.Fatalf("burst wrote %v, want request 0 alone", m)
	}
	if fmt.Sprint(timers.delays) != "[9.9s]" {
		t.Fatalf("scheduled %v, want one write 9.9 s after the first line dropped", timers.delays)
	}
	clock.advance(9500 * time.Millisecond)
	timers.run()
	m := lines()
	if len(m) != 1 || m[0]["request_id"] != "4" || m[0][SuppressedKey] != float64(3) || m[0]["component"] != "s3" {
		t.Fatalf("end of interval wrote %v, want request 4 (with its attributes) with suppressed=3", m)
	}
	timers.run()
	if m := lines(); len(m) != 0 {
		t.Fatalf("a second run wrote %v", m)
	}

	// The write started an interval: a line within it is dropped and held in turn.
	burst(5, 1)
	if m := lines(); len(m) != 0 {
		t.Fatalf("line right after the end-of-interval write was written: %v", m)
	}
	// A line after the interval, before the timer: it is written with the count. The timer of
	// the interval it ended then writes nothing, even with a line held in the next interval.
	clock.advance(10 * time.Second)
	burst(6, 1)
	if m := lines(); len(m) != 1 || m[0]["request_id"] != "6" || m[0][SuppressedKey] != float64(1) {
		t.Fatalf("line after the interval: %v, want request 6 with suppressed=1", m)
	}
	burst(7, 1) // dropped: held for the end of the interval request 6 began
	if len(timers.funcs) != 2 {
		t.Fatalf("%d writes scheduled, want 2 (the ended interval's and the new one's)", len(timers.funcs))
	}
	timers.funcs[0]()
	if m := lines(); len(m) != 0 {
		t.Fatalf("the ended interval's timer wrote %v", m)
	}
	timers.funcs[1]()
	if m := lines(); len(m) != 1 || m[0]["request_id"] != "7" {
		t.Fatalf("the new interval's timer wrote %v, want request 7", m)
	}
}

// TestWriteHeldLines: before exiting, the lines held back are written with their counts, each
// kind once, and the timers then write nothing more.
func TestWriteHeldLines(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	timers := &manualTimers{}
	var buf bytes.Buffer
	l := slog.New(newRateLimitHandler(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock.now, timers.after))
	for i := range 3 {
		l.Error("s3 get failed", "request_id", fmt.Sprint(i), "error", dbDown("a"))
		l.Warn("metadata store unavailable", "request_id", fmt.Sprint(i))
	}
	l.Warn("once", "request_id", "x")
	buf.Reset()
	WriteHeldLines(l)
	var got []string
	for _, m := range jsonLines(t, buf.String()) {
		got = append(got, fmt.Sprint(m["msg"], " ", m["request_id"], " ", m[SuppressedKey]))
	}
	slices.Sort(got)
	if want := "metadata store unavailable 2 1|s3 get failed 2 1"; strings.Join(got, "|") != want {
		t.Fatalf("written %q, want %q", strings.Join(got, "|"), want)
	}
	buf.Reset()
	timers.run()
	WriteHeldLines(l)
	WriteHeldLines(slog.New(slog.NewJSONHandler(&buf, nil))) // not rate-limited: nothing to do
	if buf.Len() != 0 {
		t.Fatalf("written again: %s", buf.String())
	}
}

// TestNewLoggerWritesTheLastCount: with the real clock, a burst's held-back count reaches the
// log after the interval with no further line.
func TestNewLoggerWritesTheLastCount(t *testing.T) {
	var buf syncBuffer
	l, err := NewLogger(&buf, "json", slog.LevelInfo, WithRepeatInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		l.Error("metadata lookup failed", "request_id", fmt.Sprint(i), "error", dbDown("a"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(buf.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	m := jsonLines(t, buf.String())
	if len(m) != 2 || m[1]["request_id"] != "19" || m[1][SuppressedKey] != float64(18) {
		t.Fatalf("lines %v, want request 0, then request 19 with suppressed=18", m)
	}
}

// The metadata cache limits its stale-serving warning itself and sets "suppressed"; the lines
// this handler drops carry their own counts, which must add up in the one "suppressed" key of
// the next line written.
func TestRateLimitHandlerMergesCallersSuppressedCount(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	l := slog.New(newRateLimitHandler(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock.now, (&manualTimers{}).after))
	for range 10 { // one line a second, each standing for 4 the cache held back
		l.Warn("metadata store unavailable, serving stale metadata", "err", dbDown("a"), SuppressedKey, int64(4))
		clock.advance(time.Second)
	}
	l.Warn("metadata store unavailable, serving stale metadata", "err", dbDown("a"), SuppressedKey, int64(4))
	out := buf.String()
	lines := jsonLines(t, out)
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if n := strings.Count(line, `"`+SuppressedKey+`":`); n != 1 {
			t.Errorf("line %d has %d %q keys: %s", i+1, n, SuppressedKey, line)
		}
	}
	// First line: its own 4. Second (at 10 s): its own 4 + 9 dropped lines standing for 5 each.
	if len(lines) != 2 || lines[0][SuppressedKey] != float64(4) || lines[1][SuppressedKey] != float64(4+9*5) {
		t.Fatalf("lines: %v; want suppressed 4 then 49", lines)
	}
}
