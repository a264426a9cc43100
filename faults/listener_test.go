package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	dto "github.com/prometheus/client_model/go"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// The listener acceptance suite (issue 15): what the serving listener must keep doing whatever
// HTTP engine is behind it. Every test talks to the real daemon over raw TCP, so header names
// are seen as spelled on the wire and connection handling (timeouts, keep-alive, pipelining,
// close) is observed, not assumed.

// rawField is one header line as sent: the name exactly as spelled, and the value.
type rawField struct{ name, value string }

// rawAnswer is one response read byte for byte off a connection.
type rawAnswer struct {
	statusLine string
	status     int
	fields     []rawField
	body       []byte
	raw        []byte // status line, header block and body, as received
}

// get returns the first value of the header named name (case-insensitively) and whether it was sent.
func (a rawAnswer) get(name string) (string, bool) {
	for _, f := range a.fields {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// names returns the header names as sent, sorted.
func (a rawAnswer) names() []string {
	var out []string
	for _, f := range a.fields {
		out = append(out, f.name)
	}
	slices.Sort(out)
	return out
}

// readRaw reads one response from br. The body is Content-Length bytes, none for a HEAD request,
// a 304 or a 1xx/204; ezdfsd never answers chunked, so a response without Content-Length where a
// body is due is an error.
func readRaw(br *bufio.Reader, head bool) (rawAnswer, error) {
	var a rawAnswer
	var raw bytes.Buffer
	line, err := br.ReadString('\n')
	raw.WriteString(line)
	if err != nil {
		return a, fmt.Errorf("status line %q: %w", line, err)
	}
	a.statusLine = strings.TrimRight(line, "\r\n")
	parts := strings.SplitN(a.statusLine, " ", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "HTTP/1.") {
		return a, fmt.Errorf("malformed status line %q", a.statusLine)
	}
	if a.status, err = strconv.Atoi(parts[1]); err != nil {
		return a, fmt.Errorf("status line %q: %w", a.statusLine, err)
	}
	for {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return a, fmt.Errorf("header block after %q: %w", raw.String(), err)
		}
		if !strings.HasSuffix(line, "\r\n") {
			return a, fmt.Errorf("header line %q not ended by CRLF", line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.TrimSpace(name) != name {
			return a, fmt.Errorf("malformed header line %q", line)
		}
		a.fields = append(a.fields, rawField{name, strings.TrimSpace(value)})
	}
	if !head && a.status != http.StatusNotModified && a.status != http.StatusNoContent && a.status >= 200 {
		cl, ok := a.get("Content-Length")
		if !ok {
			return a, fmt.Errorf("%s without Content-Length", a.statusLine)
		}
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return a, fmt.Errorf("Content-Length %q", cl)
		}
		a.body = make([]byte, n)
		if _, err := io.ReadFull(br, a.body); err != nil {
			return a, fmt.Errorf("body of %s: %w", a.statusLine, err)
		}
		raw.Write(a.body)
	}
	a.raw = raw.Bytes()
	return a, nil
}

// exchangeRaw writes req on a new connection and reads one answer (head: the request is a HEAD).
func exchangeRaw(t *testing.T, addr, req string, head bool) rawAnswer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	a, err := readRaw(bufio.NewReader(c), head)
	if err != nil {
		t.Fatalf("%q: %v", firstLine(req), err)
	}
	return a
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// keepAlive is a GET or HEAD request that leaves the connection open.
func keepAlive(method, target string, headers ...string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: ezdfsd.test\r\n" + strings.Join(headers, "") + "\r\n"
}

// waitClosed reads c until the peer closes it (EOF or a reset) and returns how long that took
// from start; bytes sent before the close are returned too (an error answer, if any).
func waitClosed(c net.Conn, start time.Time, limit time.Duration) (time.Duration, []byte, error) {
	c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return time.Since(start), b, err
}

// putRows writes rows into the site's SQLite metadata (mtime 1700000000 and image/jpeg unless set).
func (s *hostileSite) putRows(t *testing.T, rows ...metadata.File) {
	t.Helper()
	cfg, err := config.Load(append([]string{"--listen=127.0.0.1:0"}, s.args()...), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := daemon.OpenStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, r := range rows {
		if r.Datatype == "" {
			r.Datatype = "image/jpeg"
		}
		if r.Scope == "" {
			r.Scope = "image"
		}
		if r.MTime == 0 {
			r.MTime = 1700000000
		}
		if err := store.Put(ctx, cfg.Tables().For(r.Name), r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListenerHeaderBlocks pins, for every status the handler sends, the exact set of header
// names on the wire, spelled as today (the legacy "ETag" and "Served-by", not a canonicalized
// "Etag" or "Served-By"), and checks that each answer has a valid Date and no Server banner.
// Values that vary (Date, Expires, X-Request-Id) are checked for form, the rest for equality.
func TestListenerHeaderBlocks(t *testing.T) {
	site := newHostileSite(t)
	const short = imagesDir + "short.jpg"
	writeFile(t, site.mount, short, []byte("short"))
	site.putRows(t, metadata.File{Name: short, Size: 100}) // the file is shorter than its row: 503
	d := startDaemon(t, site.args("--missing-retries=0", "--retry-after=5s")...)

	identity := []string{"ETag", "Expires", "Last-Modified", "Served-by", "X-Powered-By"}
	representation := append([]string{"Accept-Ranges", "Content-Length", "Content-Type"}, identity...)
	page := []string{"Content-Length", "Content-Type"}
	fixed := map[string]string{ // exact values wherever sent
		"ETag":          `"1700000000-3000"`,
		"Last-Modified": "Tue, 14 Nov 2023 22:13:20 GMT",
		"Served-by":     "faults",
		"X-Powered-By":  "eZ Publish",
		"Accept-Ranges": "bytes",
	}
	cases := []struct {
		name   string
		req    string
		head   bool
		status int
		names  []string // besides Date and X-Request-Id, which every answer carries
		values map[string]string
		body   []byte
	}{
		{name: "200", req: keepAlive("GET", "/"+goodName), status: 200, names: representation,
			values: map[string]string{"Content-Type": "image/jpeg", "Content-Length": "3000"}, body: site.good},
		{name: "200 HEAD", req: keepAlive("HEAD", "/"+goodName), head: true, status: 200, names: representation,
			values: map[string]string{"Content-Type": "image/jpeg", "Content-Length": "3000"}},
		{name: "206", req: keepAlive("GET", "/"+goodName, "Range: bytes=0-9\r\n"), status: 206, names: append([]string{"Content-Range"}, representation...),
			values: map[string]string{"Content-Range": "bytes 0-9/3000", "Content-Length": "10"}, body: site.good[:10]},
		{name: "304", req: keepAlive("GET", "/"+goodName, "If-None-Match: \"1700000000-3000\"\r\n"), status: 304, names: identity},
		{name: "404", req: keepAlive("GET", "/"+imagesDir+"nope.jpg"), status: 404, names: page,
			values: map[string]string{"Content-Type": "text/html;charset=UTF-8"}},
		{name: "405", req: "POST /" + goodName + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", status: 405, names: append([]string{"Allow"}, page...),
			values: map[string]string{"Allow": "GET, HEAD", "Content-Type": "text/html;charset=UTF-8"}},
		{name: "416", req: keepAlive("GET", "/"+goodName, "Range: bytes=5000-\r\n"), status: 416, names: append([]string{"Content-Range"}, representation...),
			values: map[string]string{"Content-Range": "bytes */3000", "Content-Type": "text/html;charset=UTF-8"}},
		{name: "503", req: keepAlive("GET", "/"+short), status: 503, names: append([]string{"Retry-After"}, page...),
			values: map[string]string{"Retry-After": "5", "Content-Type": "text/html;charset=UTF-8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			a := exchangeRaw(t, d.FilesAddr, c.req, c.head)
			after := time.Now().Add(time.Second)
			if a.status != c.status {
				t.Fatalf("%s: want %d", a.statusLine, c.status)
			}
			want := append([]string{"Date", "X-Request-Id"}, c.names...)
			slices.Sort(want)
			if got := a.names(); !slices.Equal(got, want) {
				t.Errorf("header names on the wire:\n got %q\nwant %q", got, want)
			}
			seen := map[string]int{}
			for _, f := range a.fields {
				if seen[strings.ToLower(f.name)]++; seen[strings.ToLower(f.name)] == 2 {
					t.Errorf("%s sent more than once", f.name)
				}
			}
			if v, ok := a.get("Server"); ok {
				t.Errorf("Server: %q sent; today's daemon sends no Server header", v)
			}
			date, ok := a.get("Date")
			if when, err := time.Parse(http.TimeFormat, date); !ok || err != nil || when.Before(before.Truncate(time.Second)) || when.After(after) {
				t.Errorf("Date %q (sent %v): want an IMF-fixdate between %v and %v (%v)", date, ok, before.UTC().Format(http.TimeFormat), after.UTC().Format(http.TimeFormat), err)
			}
			if exp, ok := a.get("Expires"); ok {
				if _, err := time.Parse(http.TimeFormat, exp); err != nil {
					t.Errorf("Expires %q: %v", exp, err)
				}
			}
			if id, _ := a.get("X-Request-Id"); id == "" {
				t.Error("empty X-Request-Id")
			}
			for name, want := range fixed {
				if v, ok := a.get(name); ok && v != want {
					t.Errorf("%s: %q, want %q", name, v, want)
				}
			}
			for name, want := range c.values {
				if v, _ := a.get(name); v != want {
					t.Errorf("%s: %q, want %q", name, v, want)
				}
			}
			if c.body != nil && !bytes.Equal(a.body, c.body) {
				t.Errorf("body: %d bytes, not the file's", len(a.body))
			}
		})
	}
	checkNoPanic(t, d)
}

// TestListenerSlowHeaders: clients that send their request header one byte every 200 ms
// (slowloris) are cut off once --read-header-timeout (1 s) has passed, long before their header
// is complete, while other clients are served meanwhile.
func TestListenerSlowHeaders(t *testing.T) {
	site := newHostileSite(t)
	const (
		timeout = time.Second
		pace    = 200 * time.Millisecond
		slow    = 4
		bound   = 8 * time.Second // generous: the cut is due after 1 s; the whole header would take ~18 s
	)
	d := startDaemon(t, site.args("--read-header-timeout="+timeout.String())...)
	req := get("/" + goodName)

	type cut struct {
		sent, of int
		took     time.Duration
		answer   []byte
		err      error
	}
	cuts := make(chan cut, slow)
	for range slow {
		go func() {
			c, err := net.DialTimeout("tcp", d.FilesAddr, 5*time.Second)
			if err != nil {
				cuts <- cut{err: err}
				return
			}
			defer c.Close()
			start := time.Now()
			type closed struct {
				took   time.Duration
				answer []byte
				err    error
			}
			done := make(chan closed, 1)
			go func() {
				took, b, err := waitClosed(c, start, bound+5*time.Second)
				done <- closed{took, b, err}
			}()
			sent := 0
			for sent < len(req) {
				if _, err := c.Write([]byte{req[sent]}); err != nil {
					break // the server has closed the connection
				}
				sent++
				select {
				case cl := <-done:
					cuts <- cut{sent, len(req), cl.took, cl.answer, cl.err}
					return
				case <-time.After(pace):
				}
			}
			cl := <-done
			cuts <- cut{sent, len(req), cl.took, cl.answer, cl.err}
		}()
	}

	// Meanwhile, ordinary clients are served, each on its own connection.
	served := 0
	deadline := time.Now().Add(timeout)
	for served < 5 || time.Now().Before(deadline) {
		checkHealthy(t, d, "/"+goodName, site.good)
		served++
		time.Sleep(50 * time.Millisecond)
	}

	for range slow {
		c := <-cuts
		switch {
		case c.err != nil:
			t.Errorf("slow client: %v after %d of %d header bytes", c.err, c.sent, c.of)
		case c.sent == c.of:
			t.Errorf("slow client sent its whole %d-byte header over %v without being cut", c.of, c.took)
		case c.took > bound:
			t.Errorf("slow client cut after %v, want within %v of a %v read-header-timeout", c.took, bound, timeout)
		case len(c.answer) > 0 && !bytes.HasPrefix(c.answer, []byte("HTTP/1.1 408")) && !bytes.HasPrefix(c.answer, []byte("HTTP/1.1 400")):
			t.Errorf("slow client got %q before the close; want nothing, 400 or 408", c.answer)
		default:
			t.Logf("slow client cut after %v, %d of %d header bytes sent, answer %q", c.took.Round(time.Millisecond), c.sent, c.of, firstLine(string(c.answer)))
		}
	}
	t.Logf("%d ordinary requests served while %d slow clients held connections", served, slow)
	checkHealthy(t, d, "/"+goodName, site.good)
	checkNoPanic(t, d)
}

// TestListenerIdleTimeout: a keep-alive connection serves several requests, then, left idle, is
// closed by the daemon once --idle-timeout (1 s) has passed, not before, and not never.
func TestListenerIdleTimeout(t *testing.T) {
	site := newHostileSite(t)
	const (
		idle  = time.Second
		bound = 8 * time.Second
	)
	d := startDaemon(t, site.args("--idle-timeout="+idle.String())...)
	c, err := net.DialTimeout("tcp", d.FilesAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var answered time.Time
	for i := range 3 { // pauses shorter than the idle timeout keep the connection
		if i > 0 {
			time.Sleep(idle / 4)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, keepAlive("GET", "/"+goodName)); err != nil {
			t.Fatalf("request %d on the kept-alive connection: %v", i+1, err)
		}
		a, err := readRaw(br, false)
		if err != nil || a.status != 200 || !bytes.Equal(a.body, site.good) {
			t.Fatalf("request %d on the kept-alive connection: %q, %d bytes, %v", i+1, a.statusLine, len(a.body), err)
		}
		if v, ok := a.get("Connection"); ok {
			t.Errorf("answer %d: Connection: %s on a keep-alive exchange", i+1, v)
		}
		answered = time.Now()
	}
	took, rest, err := waitClosed(c, answered, bound+5*time.Second)
	switch {
	case err != nil:
		t.Fatalf("idle connection still open after %v (--idle-timeout %v): %v", took.Round(time.Millisecond), idle, err)
	case len(rest) > 0:
		t.Fatalf("idle connection got %q", rest)
	case took > bound:
		t.Fatalf("idle connection closed after %v, want within %v of --idle-timeout %v", took, bound, idle)
	case took < idle/2:
		t.Fatalf("idle connection closed after %v, before --idle-timeout %v", took, idle)
	}
	t.Logf("idle keep-alive connection closed %v after its last answer (--idle-timeout %v)", took.Round(time.Millisecond), idle)
}

// TestListenerPipelining: three requests written in one go on one connection (a GET, a HEAD and
// a GET of a missing name) get three complete answers in order, byte for byte what each gets on
// its own connection (but for the per-request Date, Expires and X-Request-Id values), and the
// connection then serves on. HTTP/1.0 and Connection: close get the close semantics of RFC 9112
// §9.3: HTTP/1.0 closes after the answer unless asked to keep alive, HTTP/1.1 with "close" closes.
func TestListenerPipelining(t *testing.T) {
	site := newHostileSite(t)
	d := startDaemon(t, site.args()...)
	missing := "/" + imagesDir + "nope.jpg"
	reqs := []struct {
		req  string
		head bool
	}{
		{keepAlive("GET", "/"+goodName), false},
		{keepAlive("HEAD", "/"+goodName), true},
		{keepAlive("GET", missing), false},
	}

	t.Run("three requests in one write", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", d.FilesAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		var all strings.Builder
		for _, r := range reqs {
			all.WriteString(r.req)
		}
		if _, err := io.WriteString(c, all.String()); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		for i, r := range reqs {
			got, err := readRaw(br, r.head)
			if err != nil {
				t.Fatalf("answer %d (%s): %v", i+1, firstLine(r.req), err)
			}
			alone := exchangeRaw(t, d.FilesAddr, r.req, r.head)
			if g, w := normalise(got.raw), normalise(alone.raw); !bytes.Equal(g, w) {
				t.Errorf("answer %d (%s) pipelined differs from the same request alone:\n%s\nvs\n%s", i+1, firstLine(r.req), head(g), head(w))
			}
			t.Logf("answer %d: %s, %d body bytes", i+1, got.statusLine, len(got.body))
		}
		// Nothing more was sent (the HEAD answer had no body), and the connection still serves.
		if _, err := io.WriteString(c, get("/"+goodName)); err != nil {
			t.Fatal(err)
		}
		a, err := readRaw(br, false)
		if err != nil || a.status != 200 || !bytes.Equal(a.body, site.good) {
			t.Fatalf("fourth request on the connection: %q, %d bytes, %v", a.statusLine, len(a.body), err)
		}
		expectClosed(t, c, br)
	})

	closeCases := []struct {
		name      string
		req       string
		keepsOpen bool
	}{
		{"HTTP/1.0 closes", "GET /" + goodName + " HTTP/1.0\r\nHost: x\r\n\r\n", false},
		{"HTTP/1.0 keep-alive stays open", "GET /" + goodName + " HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", true},
		{"HTTP/1.1 stays open", keepAlive("GET", "/"+goodName), true},
		{"HTTP/1.1 Connection: close closes", get("/" + goodName), false},
	}
	for _, cc := range closeCases {
		t.Run(cc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", d.FilesAddr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			br := bufio.NewReader(c)
			if _, err := io.WriteString(c, cc.req); err != nil {
				t.Fatal(err)
			}
			a, err := readRaw(br, false)
			if err != nil || a.status != 200 || !bytes.Equal(a.body, site.good) {
				t.Fatalf("%q, %d bytes, %v", a.statusLine, len(a.body), err)
			}
			conn, _ := a.get("Connection")
			if !cc.keepsOpen {
				if strings.Contains(cc.req, "HTTP/1.1") && !strings.EqualFold(conn, "close") {
					t.Errorf("Connection: %q, want close", conn)
				}
				expectClosed(t, c, br)
				return
			}
			if strings.Contains(cc.req, "HTTP/1.0") && !strings.EqualFold(conn, "keep-alive") {
				t.Errorf("Connection: %q; an HTTP/1.0 client is told keep-alive or it must assume close", conn)
			}
			// A second request on the same connection is served.
			if _, err := io.WriteString(c, cc.req); err != nil {
				t.Fatalf("second request: %v", err)
			}
			if a, err := readRaw(br, false); err != nil || a.status != 200 || !bytes.Equal(a.body, site.good) {
				t.Fatalf("second request on the kept connection: %q, %d bytes, %v", a.statusLine, len(a.body), err)
			}
		})
	}
	checkNoPanic(t, d)
}

// expectClosed asserts that the server closes c with nothing more to read.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the answer: byte %q, err %v; want the connection closed", b, err)
	}
}

// normalise blanks the values that differ between two identical requests.
func normalise(raw []byte) []byte {
	hdr, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := strings.Split(string(hdr), "\r\n")
	for i, l := range lines {
		for _, name := range []string{"Date", "Expires", "X-Request-Id"} {
			if strings.HasPrefix(l, name+":") {
				lines[i] = name + ": *"
			}
		}
	}
	return append([]byte(strings.Join(lines, "\r\n")+"\r\n\r\n"), body...)
}

// head is raw's header block, for messages.
func head(raw []byte) string {
	h, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	return string(h)
}

// countingProxy forwards loopback connections to target and records, per connection, the bytes
// target sent and whether the client side (the daemon) has closed it.
type countingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*countedConn
}

// countedConn is one proxied connection.
type countedConn struct {
	fromTarget atomic.Int64
	closed     atomic.Bool // the daemon closed its end
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			cc := &countedConn{}
			p.mu.Lock()
			p.conns = append(p.conns, cc)
			p.mu.Unlock()
			wg.Add(2)
			go func() { // daemon → S3; ends when the daemon closes the connection
				defer wg.Done()
				io.Copy(server, client)
				cc.closed.Store(true)
				server.Close()
			}()
			go func() { // S3 → daemon, counted
				defer wg.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := server.Read(buf)
					cc.fromTarget.Add(int64(n))
					if n > 0 {
						if _, werr := client.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				client.Close()
			}()
		}
	}()
	return p
}

// biggest returns the connection that carried the most bytes from the target.
func (p *countingProxy) biggest() *countedConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var big *countedConn
	for _, c := range p.conns {
		if big == nil || c.fromTarget.Load() > big.fromTarget.Load() {
			big = c
		}
	}
	return big
}

// TestListenerS3ClientGone: a client that reads the first KiB of a large S3 file and closes its
// connection makes the daemon stop the S3 stream at once: the S3 connection carrying the body is
// closed (not drained), far less than the object crosses it, the exchange is counted as
// client_gone and logged, in-flight requests return to 0, and the daemon keeps serving.
func TestListenerS3ClientGone(t *testing.T) {
	srv := testenv.S3Server(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "ezdfsd-listener-")
	const (
		s3Dir  = "var/s3site/storage/images/"
		big    = s3Dir + "big.bin"
		small  = s3Dir + "small.jpg"
		size   = 64 << 20
		bound  = 10 * time.Second
		readKB = 16
	)
	bigData, smallData := pattern("big-s3-object", size), pattern("small-s3-object", 5000)
	ctx := context.Background()
	for key, data := range map[string][]byte{big: bigData, small: smallData} {
		if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	site := newHostileSite(t)
	site.putRows(t, metadata.File{Name: big, Size: size, Datatype: "application/octet-stream"}, metadata.File{Name: small, Size: int64(len(smallData))})
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCountingProxy(t, u.Host)
	d := startDaemon(t, site.args("--path-backend="+s3Dir+"="+dfs.S3Backend, "--s3-bucket="+bucket, "--s3-region=us-east-1",
		"--s3-endpoint=http://"+proxy.ln.Addr().String(), "--s3-path-style=true",
		"--s3-access-key-id="+srv.AccessKey, "--s3-secret-access-key="+srv.SecretKey)...)
	reg := d.App.Registry()
	checkHealthy(t, d, "/"+small, smallData)

	c, err := net.DialTimeout("tcp", d.FilesAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, keepAlive("GET", "/"+big)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if _, err := io.ReadFull(br, make([]byte, readKB<<10)); err != nil {
		t.Fatalf("reading the first %d KiB: %v", readKB, err)
	}
	c.Close() // with unread bytes: a reset
	gone := time.Now()

	var s3conn *countedConn
	ok := waitUntil(bound, func() bool {
		s3conn = proxy.biggest()
		return s3conn != nil && s3conn.closed.Load() &&
			testkit.MetricSum(t, reg, "ezdfsd_http_requests_in_flight", nil) == 0 &&
			testkit.MetricSum(t, reg, "ezdfsd_storage_events_total", map[string]string{"event": "client_gone"}) == 1
	})
	took := time.Since(gone)
	crossed := s3conn.fromTarget.Load()
	t.Logf("client closed after %d KiB: S3 connection closed=%v %v later, %.1f of %d MiB crossed it; in flight %v, client_gone %v",
		readKB, s3conn.closed.Load(), took.Round(time.Millisecond), float64(crossed)/(1<<20), size>>20,
		testkit.MetricSum(t, reg, "ezdfsd_http_requests_in_flight", nil),
		testkit.MetricSum(t, reg, "ezdfsd_storage_events_total", map[string]string{"event": "client_gone"}))
	if !ok {
		t.Fatalf("within %v of the client leaving: want the S3 body connection closed, no request in flight and one client_gone event", bound)
	}
	if crossed > size/2 {
		t.Errorf("%d of %d bytes came from S3 for a client that read %d KiB: the stream was drained, not stopped", crossed, size, readKB)
	}
	if !strings.Contains(d.Logs.String(), "client gone") {
		t.Error(`no "client gone" log line`)
	}
	if n := testkit.MetricSum(t, reg, "ezdfsd_storage_events_total", map[string]string{"event": "storage_error"}); n != 0 {
		t.Errorf("storage_error events %v: the client leaving is not an S3 failure", n)
	}
	checkHealthy(t, d, "/"+small, smallData)
	checkHealthy(t, d, "/"+goodName, site.good)
	checkNoPanic(t, d)
}

// waitUntil polls cond every 10 ms until it holds or limit passes, and reports whether it held.
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestListenerDependencyDeadlines: with one dependency hung (accepting connections and never
// answering), a request that needs it is answered within a bound set by the daemon's own
// timeouts (--db-timeout 500ms, --memcached-timeout 100ms, --s3-first-byte-timeout 1s), while
// the client is willing to wait half a minute: the deadline is on the daemon's call, not on the
// client going away, which an HTTP engine that never cancels a request's context relies on.
func TestListenerDependencyDeadlines(t *testing.T) {
	st := newFaultStack(t)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	cold := 0
	nextCold := func(site string) string {
		for ; cold < len(st.colds); cold++ {
			if strings.HasPrefix(st.colds[cold], site) {
				cold++
				return st.colds[cold-1]
			}
		}
		t.Fatal("out of cold rows")
		return ""
	}
	db := func() []*faultproxy.Proxy { return []*faultproxy.Proxy{st.db} }
	cases := []struct {
		name  string
		proxy func() []*faultproxy.Proxy
		paths []string // asked in turn: the first may only meet the cut of its pooled connection
		want  int
		bound time.Duration // 5 to 15 times the daemon's timeout: room for busy cores, none for a missing deadline
	}{
		{"MariaDB hung", db, []string{nextCold(nfsSite), nfsSite + "deadline/none.jpg", nextCold(nfsSite)}, 503, 2500 * time.Millisecond},
		{"memcached hung", func() []*faultproxy.Proxy { return st.memcached }, []string{nextCold(nfsSite), nextCold(nfsSite), nextCold(nfsSite)}, 200, 1500 * time.Millisecond},
		{"S3 hung", func() []*faultproxy.Proxy { return []*faultproxy.Proxy{st.s3} }, []string{nextCold(s3Site)}, 503, 5 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.proxy() {
				if err := p.SetMode(faultproxy.Blackhole); err != nil {
					t.Fatal(err)
				}
			}
			defer func() {
				for _, p := range c.proxy() {
					if err := p.SetMode(faultproxy.Pass); err != nil {
						t.Fatal(err)
					}
				}
			}()
			for _, path := range c.paths {
				start := time.Now()
				res, err := client.Get(st.d.url("/" + path))
				took := time.Since(start)
				if err != nil {
					t.Fatalf("%s after %v: %v", path, took, err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Fatalf("%s body: %v", path, err)
				}
				t.Logf("%s: %d after %v", path, res.StatusCode, took.Round(time.Millisecond))
				if res.StatusCode != c.want {
					t.Errorf("%s: status %d, want %d", path, res.StatusCode, c.want)
				}
				if c.want == 200 && !bytes.Equal(body, st.files[path]) {
					t.Errorf("%s: 200 with %d wrong bytes", path, len(body))
				}
				if c.want == 503 && res.Header.Get("Retry-After") == "" {
					t.Errorf("%s: 503 without Retry-After", path)
				}
				if took > c.bound {
					t.Errorf("%s answered after %v, want within %v: the daemon's call has no deadline of its own", path, took, c.bound)
				}
			}
		})
	}
	testkit.WaitIdle(t, st.d.App.Registry())
	for _, name := range []string{st.hotNFS[0], st.hotS3[0], nextCold(nfsSite), nextCold(s3Site)} {
		if code, _, err := getOnce(st.d.url("/"+name), st.files[name]); code != 200 || err != nil {
			t.Errorf("after the dependencies came back: %s = %d (%v)", name, code, err)
		}
	}
	checkNoPanic(t, st.d)
}

// TestListenerAccessLogAndMetrics: with --access-log and --log-format=json, every request (200,
// HEAD, 206, 404, 405, 503 and a download the client abandons) writes exactly one JSON line
// "request" with exactly the fields method, path, status, bytes, duration, backend, request_id
// and aborted (plus slog's time, level and msg) holding what was answered; and the HTTP metric
// families keep their names and label sets, with one series per answer kind.
func TestListenerAccessLogAndMetrics(t *testing.T) {
	site := newHostileSite(t)
	const short = imagesDir + "short.jpg"
	writeFile(t, site.mount, short, []byte("short"))
	site.putRows(t, metadata.File{Name: short, Size: 100})
	d := startDaemon(t, site.args("--access-log", "--log-format=json", "--missing-retries=0")...)

	type want struct {
		method, path, backend string
		status                int
		bytes                 int64 // -1: fewer than the file, the client left
		aborted               bool
	}
	missing := imagesDir + "nope.jpg"
	cases := []struct {
		id   string
		req  string
		head bool
		want want
	}{
		{"acc-200", keepAlive("GET", "/"+goodName, "X-Request-Id: acc-200\r\n"), false, want{"GET", goodName, "mountpoint", 200, int64(len(site.good)), false}},
		{"acc-head", keepAlive("HEAD", "/"+goodName, "X-Request-Id: acc-head\r\n"), true, want{"HEAD", goodName, "mountpoint", 200, 0, false}},
		{"acc-206", keepAlive("GET", "/"+goodName, "X-Request-Id: acc-206\r\n", "Range: bytes=10-19\r\n"), false, want{"GET", goodName, "mountpoint", 206, 10, false}},
		{"acc-404", keepAlive("GET", "/"+missing, "X-Request-Id: acc-404\r\n"), false, want{"GET", missing, "mountpoint", 404, -2, false}},
		{"acc-405", "DELETE /" + goodName + " HTTP/1.1\r\nHost: x\r\nX-Request-Id: acc-405\r\n\r\n", false, want{"DELETE", goodName, "none", 405, -2, false}},
		{"acc-503", keepAlive("GET", "/"+short, "X-Request-Id: acc-503\r\n"), false, want{"GET", short, "mountpoint", 503, -2, false}},
	}
	for i := range cases {
		c := &cases[i]
		a := exchangeRaw(t, d.FilesAddr, c.req, c.head)
		if a.status != c.want.status {
			t.Fatalf("%s: %s, want %d", c.id, a.statusLine, c.want.status)
		}
		if id, _ := a.get("X-Request-Id"); id != c.id {
			t.Fatalf("%s: X-Request-Id %q", c.id, id)
		}
		if c.want.bytes == -2 { // an error page: its length
			c.want.bytes = int64(len(a.body))
		}
	}
	// A download the client leaves after 64 KiB: one line, aborted, fewer bytes than the file.
	c, err := net.DialTimeout("tcp", d.FilesAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(c, keepAlive("GET", "/"+bigName, "X-Request-Id: acc-gone\r\n"))
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cases = append(cases, struct {
		id   string
		req  string
		head bool
		want want
	}{"acc-gone", "", false, want{"GET", bigName, "mountpoint", 200, -1, true}})
	testkit.WaitIdle(t, d.App.Registry())

	t.Run("access log", func(t *testing.T) {
		fields := []string{"aborted", "backend", "bytes", "duration", "level", "method", "msg", "path", "request_id", "status", "time"}
		lines := map[string][]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(d.Logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not one JSON object: %q: %v", line, err)
			}
			if m["msg"] == "request" {
				id, _ := m["request_id"].(string)
				lines[id] = append(lines[id], m)
			}
		}
		if len(lines) != len(cases) {
			t.Errorf("%d request ids in the access log, want %d", len(lines), len(cases))
		}
		for _, c := range cases {
			got := lines[c.id]
			if len(got) != 1 {
				t.Errorf("%s: %d access log lines, want 1", c.id, len(got))
				continue
			}
			m := got[0]
			keys := slices.Sorted(maps.Keys(m))
			if !slices.Equal(keys, fields) {
				t.Errorf("%s: fields %q, want %q", c.id, keys, fields)
			}
			w := c.want
			bytesOK := m["bytes"] == float64(w.bytes)
			if w.bytes == -1 {
				n, _ := m["bytes"].(float64)
				bytesOK = n > 0 && n < bigSize
			}
			if m["method"] != w.method || m["path"] != w.path || m["status"] != float64(w.status) || !bytesOK ||
				m["backend"] != w.backend || m["aborted"] != w.aborted || m["level"] != "INFO" {
				t.Errorf("%s: %v\nwant method %s path %s status %d bytes %d backend %s aborted %v level INFO", c.id, m, w.method, w.path, w.status, w.bytes, w.backend, w.aborted)
			}
			if dur, ok := m["duration"].(float64); !ok || dur <= 0 {
				t.Errorf("%s: duration %v, want a positive number (nanoseconds)", c.id, m["duration"])
			}
		}
	})

	t.Run("metric families and labels", func(t *testing.T) {
		mfs, err := d.App.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		labelsOf := func(m *dto.Metric) string {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			return strings.Join(parts, ",")
		}
		families := map[string][]string{} // name → label names (of its first series)
		series := map[string]float64{}    // ezdfsd_http_requests_total label set → count
		for _, mf := range mfs {
			name := mf.GetName()
			if !strings.HasPrefix(name, "ezdfsd_http_") && name != "ezdfsd_storage_events_total" {
				continue
			}
			var names []string
			for _, l := range mf.GetMetric()[0].GetLabel() {
				names = append(names, l.GetName())
			}
			families[name+"/"+mf.GetType().String()] = names
			if name == "ezdfsd_http_requests_total" {
				for _, m := range mf.GetMetric() {
					series[labelsOf(m)] = m.GetCounter().GetValue()
				}
			}
		}
		wantFamilies := map[string][]string{
			"ezdfsd_http_requests_total/COUNTER":             {"backend", "code", "method"},
			"ezdfsd_http_request_duration_seconds/HISTOGRAM": {"backend", "code"},
			"ezdfsd_http_response_bytes_total/COUNTER":       {"backend"},
			"ezdfsd_http_requests_in_flight/GAUGE":           nil,
			"ezdfsd_http_overload_rejected_total/COUNTER":    nil,
			"ezdfsd_storage_events_total/COUNTER":            {"event"},
		}
		if !maps.EqualFunc(families, wantFamilies, slices.Equal) {
			t.Errorf("HTTP metric families (name/type → labels):\n got %v\nwant %v", families, wantFamilies)
		}
		wantSeries := map[string]float64{
			"backend=mountpoint,code=200,method=GET":  2, // acc-200 and the abandoned download
			"backend=mountpoint,code=200,method=HEAD": 1,
			"backend=mountpoint,code=206,method=GET":  1,
			"backend=mountpoint,code=404,method=GET":  1,
			"backend=mountpoint,code=503,method=GET":  1,
			"backend=none,code=405,method=other":      1,
		}
		if !maps.Equal(series, wantSeries) {
			t.Errorf("ezdfsd_http_requests_total series:\n got %v\nwant %v", series, wantSeries)
		}
		if n := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_storage_events_total", map[string]string{"event": "client_gone"}); n != 1 {
			t.Errorf("client_gone events %v, want 1 (the abandoned download)", n)
		}
		if n := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_storage_events_total", map[string]string{"event": "short_file"}); n != 1 {
			t.Errorf("short_file events %v, want 1 (the 503)", n)
		}
	})
	checkNoPanic(t, d)
}
