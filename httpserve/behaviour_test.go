package httpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// readFromRecorder is a writer that, like fasthttp's connection writer, implements
// io.ReaderFrom, and records what the body stream hands it.
type readFromRecorder struct {
	bytes.Buffer
	srcs []io.Reader
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.srcs = append(r.srcs, src)
	return io.Copy(&r.Buffer, src)
}

// writeBody writes rc's body stream to w as fasthttp does (WriteTo), then closes it.
func writeBody(t *testing.T, rc *fasthttp.RequestCtx, w io.Writer) {
	t.Helper()
	bs := rc.Response.BodyStream()
	if bs == nil {
		t.Fatal("no body stream")
	}
	n, err := bs.(io.WriterTo).WriteTo(w)
	if err != nil {
		t.Fatalf("WriteTo: %d bytes, %v", n, err)
	}
	rc.Response.ResetBody() // closes the stream
}

// TestMountPointFastPath proves the sendfile path stays reachable: the reader the body stream
// hands over is the backend's *io.LimitedReader over an *os.File, and it reaches the connection
// writer's ReadFrom unwrapped, for whole files, single ranges and every multipart part.
func TestMountPointFastPath(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		code    int
		parts   int
	}{
		{"whole file", nil, 200, 1},
		{"one range", []string{"Range", "bytes=10-19"}, 206, 1},
		{"multipart", []string{"Range", "bytes=0-1,10-19,500-"}, 206, 3},
	}
	f := newFixture(t)
	h := f.handler(t, testConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &readFromRecorder{}
			rc := serveCtx(h, http.MethodGet, imgPath, c.headers...)
			if got := rc.Response.StatusCode(); got != c.code {
				t.Fatalf("status %d, want %d", got, c.code)
			}
			writeBody(t, rc, w)
			if len(w.srcs) != c.parts {
				t.Fatalf("ReadFrom called %d times, want %d", len(w.srcs), c.parts)
			}
			for i, src := range w.srcs {
				lr, ok := src.(*io.LimitedReader)
				if !ok {
					t.Fatalf("part %d: ReadFrom got %T, want *io.LimitedReader", i, src)
				}
				if _, ok := lr.R.(*os.File); !ok {
					t.Errorf("part %d: LimitedReader over %T, want *os.File", i, lr.R)
				}
			}
		})
	}
}

func TestNFSLag(t *testing.T) {
	cases := []struct {
		name      string
		retries   int
		appearAt  int // open attempt at which the full file exists (0 = never)
		shortFile bool
		code      int
		opens     int
		events    map[string]float64
	}{
		{"missing then appears", DefaultMissingRetries, 2, false, 200, 2, map[string]float64{eventNFSRetry: 1}},
		{"missing then appears on last retry", DefaultMissingRetries, 3, false, 200, 3, map[string]float64{eventNFSRetry: 2}},
		{"never appears", DefaultMissingRetries, 0, false, 404, 3, map[string]float64{eventNFSRetry: 2, eventMissingFile: 1}},
		{"short then complete", DefaultMissingRetries, 2, true, 200, 2, map[string]float64{eventNFSRetry: 1}},
		{"stays short", DefaultMissingRetries, 0, true, 503, 3, map[string]float64{eventNFSRetry: 2, eventShortFile: 1}},
		{"no retries configured", 0, 2, false, 404, 1, map[string]float64{eventNFSRetry: 0, eventMissingFile: 1}},
		{"negative retries", -1, 2, false, 404, 1, map[string]float64{eventNFSRetry: 0, eventMissingFile: 1}},
		{"five retries", 5, 6, false, 200, 6, map[string]float64{eventNFSRetry: 5}},
	}
	const name = imgX + "lag.jpg"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.store.put(dfs.DefaultStorageTable, metadata.File{Name: name, Datatype: "image/jpeg", Size: 100, MTime: mtime})
			if c.shortFile {
				f.mount.write(t, name, content(50))
			}
			f.mount.beforeOpen = func(n string, attempt int) {
				if n == name && attempt == c.appearAt {
					f.mount.write(t, name, content(100))
				}
			}
			cfg := testConfig()
			cfg.MissingRetries = c.retries
			reg := prometheus.NewPedanticRegistry()
			h, err := New(cfg, f.routing(t), f.store,
				map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3}, nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			var slept int
			h.sleep = func(ctx context.Context, d time.Duration) error {
				slept++
				if d != DefaultMissingRetryDelay {
					t.Errorf("retry delay %v, want %v", d, DefaultMissingRetryDelay)
				}
				return nil
			}
			rec := httptest.NewRecorder()
			get(h, rec, "/"+name)
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d", rec.Code, c.code)
			}
			if got := f.mount.openCount(name); got != c.opens {
				t.Errorf("opens = %d, want %d", got, c.opens)
			}
			if slept != c.opens-1 {
				t.Errorf("slept %d times, want %d", slept, c.opens-1)
			}
			if c.code == 200 && !bytes.Equal(rec.Body.Bytes(), content(100)) {
				t.Error("wrong body")
			}
			for ev, want := range c.events {
				if got := testutil.ToFloat64(h.metrics.events.WithLabelValues(ev)); got != want {
					t.Errorf("event %s = %v, want %v", ev, got, want)
				}
			}
		})
	}
}

// TestRetryCanceled: a client that goes away during the NFS-lag pause ends the retries at once:
// the pause (an hour here, so only the cancellation can end it) returns, the file is not opened
// again, and the request ends 503 (nobody reads it) without counting a missing file. fasthttp
// cancels nothing when a client hangs up: the pause watches the real TCP connection.
func TestRetryCanceled(t *testing.T) {
	f := newFixture(t)
	cfg := testConfig()
	cfg.MissingRetries = 2
	cfg.MissingRetryDelay = time.Hour
	reg := prometheus.NewPedanticRegistry()
	h, err := New(cfg, f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	paused := make(chan struct{})
	var pauses atomic.Int32
	h.sleep = func(ctx context.Context, d time.Duration) error {
		if pauses.Add(1) == 1 {
			close(paused)
		}
		return sleepCtx(ctx, d) // the real pause: only ctx can end it
	}
	addr := tcpServer(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /%smissing.jpg HTTP/1.1\r\nHost: x\r\n\r\n", imgX)
	select {
	case <-paused:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not pause for the NFS-lag retry")
	}
	if got := f.mount.openCount(imgX + "missing.jpg"); got != 1 {
		t.Fatalf("opens = %d before the pause, want 1", got)
	}
	c.Close() // the client goes away during the pause
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(h.metrics.requests.WithLabelValues("503", labelMountPoint, "GET")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("handler still pausing 10 s after the client went away (no 503 recorded)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.mount.openCount(imgX + "missing.jpg"); got != 1 {
		t.Errorf("opens = %d after cancel, want 1 (no retry once the client is gone)", got)
	}
	if got := pauses.Load(); got != 1 {
		t.Errorf("paused %d times, want 1", got)
	}
	for ev, want := range map[string]float64{eventNFSRetry: 1, eventMissingFile: 0} {
		if got := testutil.ToFloat64(h.metrics.events.WithLabelValues(ev)); got != want {
			t.Errorf("event %s = %v, want %v", ev, got, want)
		}
	}
}

// TestLateFailureAborts: once the status line is out, a body failure aborts the connection
// instead of finishing a response of the wrong length: the client reads fewer bytes than the
// Content-Length, then end of file.
func TestLateFailureAborts(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(f *fixture)
		target  string
		headers []string
		event   string
	}{
		{"S3 body ends early", func(f *fixture) { f.s3.objects[s3Prefix+"img.png"] = []byte("PNG") },
			"/" + s3Prefix + "img.png", nil, eventShortFile},
		{"file truncated after open", func(f *fixture) {
			f.mount.beforeRange = func(name string) {
				if name == imgX+"trunc.jpg" {
					_ = os.Truncate(f.mount.root+"/"+imgX+"trunc.jpg", 10)
				}
			}
		}, "/" + imgX + "trunc.jpg", nil, eventShortFile},
		{"second multipart range fails", func(f *fixture) {
			f.s3.objects[s3Prefix+"img.png"] = []byte("PNGBYTES")
		}, "/" + s3Prefix + "img.png", []string{"Range", "bytes=0-0,4-4"}, eventStorageError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.store.put(dfs.DefaultStorageTable, metadata.File{Name: imgX + "trunc.jpg", Datatype: "image/jpeg", Size: 100, MTime: mtime})
			f.mount.write(t, imgX+"trunc.jpg", content(100))
			c.setup(f)
			reg := prometheus.NewRegistry()
			h, err := New(testConfig(), f.routing(t), f.store,
				map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: failAfterFirst{f.s3, c.event == eventStorageError}}, nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			if err := serve(h, rec, http.MethodGet, c.target, c.headers...); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Fatalf("reading the body: %v, want an early end of file (status %d, %d bytes)", err, rec.Code, rec.Body.Len())
			}
			if rec.Code != 200 && rec.Code != 206 {
				t.Errorf("status %d", rec.Code)
			}
			if got := testutil.ToFloat64(h.metrics.events.WithLabelValues(c.event)); got != 1 {
				t.Errorf("event %s = %v, want 1", c.event, got)
			}
			if got := testutil.ToFloat64(h.metrics.inFlight); got != 0 {
				t.Errorf("in flight = %v after abort", got)
			}
		})
	}
}

// failAfterFirst wraps the fake S3 so that, when on, every Range after an object's first fails.
type failAfterFirst struct {
	*fakeS3
	on bool
}

func (b failAfterFirst) Open(ctx context.Context, name string) (storage.Object, error) {
	o, err := b.fakeS3.Open(ctx, name)
	if err != nil || !b.on {
		return o, err
	}
	return &failingObject{Object: o}, nil
}

type failingObject struct {
	storage.Object
	calls int
}

func (o *failingObject) Range(ctx context.Context, off, n int64) (io.Reader, error) {
	o.calls++
	if o.calls > 1 {
		return nil, fmt.Errorf("fake: connection reset: %w", storage.ErrUnavailable)
	}
	return o.Object.Range(ctx, off, n)
}

type panickingBackend struct{}

func (panickingBackend) Open(context.Context, string) (storage.Object, error) { panic("backend bug") }

// TestPanicBeforeHeaders: a bug below the handler becomes the legacy 500 page, not a dropped
// connection, when nothing was sent yet.
func TestPanicBeforeHeaders(t *testing.T) {
	f := newFixture(t)
	h, err := New(testConfig(), f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: panickingBackend{}, dfs.S3Backend: f.s3}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	get(h, rec, imgPath)
	if rec.Code != 500 || rec.Body.String() != page500 {
		t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "backend bug") {
		t.Error("internals exposed")
	}
}

// TestHostileInput: nothing a client sends produces a 500 or a panic.
func TestHostileInput(t *testing.T) {
	long := "/" + imgX + strings.Repeat("a", 5000) + ".jpg"
	cases := []struct {
		name    string
		method  string
		target  string
		headers []string
		codes   []int
	}{
		{"NUL", "GET", "/" + imgX + "%00", nil, []int{404}},
		{"encoded dot-dot", "GET", "/var/ezdemo_site/storage/images/%2e%2e/%2e%2e/etc/passwd", nil, []int{404}},
		{"dot-dot slash encoded", "GET", "/var/ezdemo_site/storage/images/..%2f..%2fetc%2fpasswd", nil, []int{404}},
		{"backslashes", "GET", "/var\\ezdemo_site\\storage\\images\\x", nil, []int{404}},
		{"encoded backslash", "GET", "/" + imgX + "..%5c..%5cx", nil, []int{404}},
		{"bad escape", "GET", "/" + imgX + "%zz.jpg", nil, []int{404}},
		{"truncated escape", "GET", "/" + imgX + "%4", nil, []int{404}},
		{"overlong name", "GET", long, nil, []int{404}},
		{"very overlong target", "GET", "/" + strings.Repeat("%41", 20000), nil, []int{404}},
		{"empty", "GET", "/", nil, []int{404}},
		{"asterisk", "GET", "*", nil, []int{404}},
		{"authority form", "GET", "example.com:443", nil, []int{404}},
		{"absolute no path", "GET", "http://example.com", nil, []int{404}},
		{"absolute query only", "GET", "http://example.com?x", nil, []int{404}},
		{"control bytes", "GET", "/" + imgX + "%01%7f", nil, []int{404}},
		{"CONNECT", "CONNECT", "example.com:443", nil, []int{405}},
		{"unknown method", "BREW", imgPath, nil, []int{405}},
		{"lower-case get", "get", imgPath, nil, []int{405}},
		{"range list x1000", "GET", imgPath, []string{"Range", "bytes=" + strings.Repeat("0-1,", 1000)}, []int{200}},
		{"range commas only", "GET", imgPath, []string{"Range", "bytes=" + strings.Repeat(",", 10000)}, []int{200}},
		{"range huge numbers", "GET", imgPath, []string{"Range", "bytes=99999999999999999999999999-"}, []int{416}},
		{"range negative", "GET", imgPath, []string{"Range", "bytes=-5--1"}, []int{200}},
		{"two Range fields", "GET", imgPath, []string{"Range", "bytes=0-1", "Range", "bytes=2-3"}, []int{200}},
		{"huge INM", "GET", imgPath, []string{"If-None-Match", strings.Repeat(`"x",`, 50000)}, []int{200}},
		{"huge IMS", "GET", imgPath, []string{"If-Modified-Since", strings.Repeat("Mon, ", 50000)}, []int{200}},
		{"huge If-Range", "GET", imgPath, []string{"Range", "bytes=0-1", "If-Range", strings.Repeat("W/", 50000)}, []int{200}},
		{"huge request id", "GET", imgPath, []string{"X-Request-Id", strings.Repeat("a", 100000)}, []int{200}},
		{"CRLF in request id", "GET", imgPath, []string{"X-Request-Id", "a\r\nSet-Cookie: x"}, []int{200}},
		{"If-Match garbage", "GET", imgPath, []string{"If-Match", "\x00\xff"}, []int{200}},
		{"invalid UTF-8 name", "GET", "/" + imgX + "%C3%28.jpg", nil, []int{404}},
	}
	f := newFixture(t)
	h := f.handler(t, testConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			// The handler alone, as fasthttp parsed the request: the listener answers 400 to
			// some of these before the handler (faults/hostile_test.go covers it).
			if err := serveWritten(h, rec, c.method, c.target, c.headers...); err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, code := range c.codes {
				ok = ok || rec.Code == code
			}
			if !ok {
				t.Errorf("status %d, want one of %v", rec.Code, c.codes)
			}
			if rec.Body.Len() > 64<<10 {
				t.Errorf("response body of %d bytes", rec.Body.Len())
			}
			if id := rec.Header().Get("X-Request-Id"); strings.ContainsAny(id, "\r\n") || len(id) > 64 {
				t.Errorf("unsafe X-Request-Id echoed: %q", truncate([]byte(id)))
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewPedanticRegistry()
	h, err := New(testConfig(), f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	h.sleep = func(ctx context.Context, _ time.Duration) error { return nil }
	get(h, httptest.NewRecorder(), imgPath)                                   // 200 mountpoint, 1000 bytes
	get(h, httptest.NewRecorder(), imgPath, "Range", "bytes=0-9")             // 206 mountpoint, 10 bytes
	get(h, httptest.NewRecorder(), "/"+s3Prefix+"img.png")                    // 200 s3, 8 bytes
	get(h, httptest.NewRecorder(), "/var/ezdemo_site/storage/original/a.pdf") // 404 none
	get(h, httptest.NewRecorder(), "/"+imgX+"missing.jpg")                    // 404 mountpoint, missing_file
	serve(h, httptest.NewRecorder(), http.MethodPost, imgPath)                // 405 none, method other

	counts := []struct {
		code, backend, method string
		want                  float64
	}{
		{"200", labelMountPoint, "GET", 1},
		{"206", labelMountPoint, "GET", 1},
		{"200", labelS3, "GET", 1},
		{"404", labelNone, "GET", 1},
		{"404", labelMountPoint, "GET", 1},
		{"405", labelNone, "other", 1},
	}
	for _, c := range counts {
		if got := testutil.ToFloat64(h.metrics.requests.WithLabelValues(c.code, c.backend, c.method)); got != c.want {
			t.Errorf("requests{%s,%s,%s} = %v, want %v", c.code, c.backend, c.method, got, c.want)
		}
	}
	mpBytes := 1000 + 10 + float64(len(page404(imgX+"missing.jpg")))
	if got := testutil.ToFloat64(h.metrics.bytes.WithLabelValues(labelMountPoint)); got != mpBytes {
		t.Errorf("mountpoint bytes = %v, want %v", got, mpBytes)
	}
	if got := testutil.ToFloat64(h.metrics.bytes.WithLabelValues(labelS3)); got != 8 {
		t.Errorf("s3 bytes = %v, want 8", got)
	}
	if got := testutil.ToFloat64(h.metrics.events.WithLabelValues(eventMissingFile)); got != 1 {
		t.Errorf("missing_file = %v", got)
	}
	if got := testutil.ToFloat64(h.metrics.inFlight); got != 0 {
		t.Errorf("in flight = %v", got)
	}
	if n := testutil.CollectAndCount(h.metrics.duration); n != 4 { // 2xx/mountpoint, 2xx/s3, 4xx/none, 4xx/mountpoint
		t.Errorf("duration series = %d, want 4", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if _, err := New(testConfig(), f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3}, nil, reg); err == nil {
		t.Error("second Handler on the same registry: no error")
	}
}

// TestRealServer runs the handler behind the serving listener (NewServer) over TCP: bodies,
// keep-alive, HEAD framing, the legacy Served-by spelling on the wire, and an aborted late
// failure.
func TestRealServer(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, testConfig())
	addr := tcpServer(t, h)
	client := &http.Client{}
	defer client.CloseIdleConnections()

	var reused []bool
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		mu.Lock()
		reused = append(reused, i.Reused)
		mu.Unlock()
	}}
	do := func(method, path string, headers ...string) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}

	resp, body, err := do("GET", imgPath)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, f.data) {
		t.Fatalf("GET: %v %v %d bytes", err, resp, len(body))
	}
	if resp.Close || resp.Header.Get("Connection") != "" {
		t.Error("connection not kept alive")
	}
	resp, body, err = do("HEAD", imgPath)
	if err != nil || resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 1000 {
		t.Fatalf("HEAD: %v %v len %d CL %d", err, resp.Status, len(body), resp.ContentLength)
	}
	resp, body, err = do("GET", imgPath, "Range", "bytes=0-1,10-19")
	if err != nil || resp.StatusCode != 206 || int64(len(body)) != resp.ContentLength {
		t.Fatalf("multipart: %v %v len %d CL %d", err, resp, len(body), resp.ContentLength)
	}
	resp, _, err = do("GET", "/"+imgX+"nope.jpg")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("404: %v %v", err, resp)
	}
	mu.Lock()
	if len(reused) != 4 || !reused[1] || !reused[2] || !reused[3] {
		t.Errorf("connection reuse = %v, want one connection for all requests", reused)
	}
	mu.Unlock()

	// A body that fails after the headers: the client must see an error, not a short success.
	f.s3.objects[s3Prefix+"img.png"] = []byte("PNG")
	if _, _, err := do("GET", "/"+s3Prefix+"img.png"); err == nil {
		t.Error("truncated body read without error")
	}

	// Raw bytes: the legacy header spelling survives on the wire.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", imgPath)
	raw, _ := io.ReadAll(bufio.NewReader(conn))
	if !bytes.Contains(raw, []byte("\r\nServed-by: "+servedBy+"\r\n")) {
		t.Errorf("raw response lacks legacy Served-by spelling:\n%s", raw)
	}
}

// TestListenerHeaders: what the serving listener adds or keeps out, on the wire: a Date header,
// no Server banner (fasthttp sends "Server: fasthttp" by default), no Content-Type on a 304,
// eZ's header spellings byte for byte, and net/http's statuses for requests it cannot
// parse (with no banner either).
func TestListenerHeaders(t *testing.T) {
	f := newFixture(t)
	addr := tcpServer(t, f.handler(t, testConfig()))
	roundTrip := func(req string) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(c)
		head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
		return head + "\r\n"
	}
	ok := roundTrip("GET " + imgPath + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "\r\nDate: ", "\r\nETag: " + fooETag + "\r\n",
		"\r\nServed-by: " + servedBy + "\r\n", "\r\nX-Powered-By: eZ Publish\r\n", "\r\nContent-Length: 1000\r\n",
		"\r\nContent-Type: image/jpeg\r\n"} {
		if !strings.Contains(ok, want) {
			t.Errorf("200 lacks %q:\n%s", want, ok)
		}
	}
	notModified := roundTrip("GET " + imgPath + " HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + fooETag + "\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(notModified, "HTTP/1.1 304 ") || strings.Contains(notModified, "Content-Type") {
		t.Errorf("304 with a Content-Type, or not a 304:\n%s", notModified)
	}
	noHost := roundTrip("GET " + imgPath + " HTTP/1.1\r\n\r\n")
	if !strings.HasPrefix(noHost, "HTTP/1.1 400 ") {
		t.Errorf("HTTP/1.1 without Host:\n%s", noHost)
	}
	big := roundTrip("GET " + imgPath + " HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("x", 2<<20) + "\r\n\r\n")
	if !strings.HasPrefix(big, "HTTP/1.1 431 ") {
		t.Errorf("header over the limit:\n%s", big)
	}
	for name, head := range map[string]string{"200": ok, "304": notModified, "400": noHost, "431": big} {
		if strings.Contains(strings.ToLower(head), "\r\nserver:") {
			t.Errorf("%s carries a Server banner:\n%s", name, head)
		}
	}
}

func TestNewValidation(t *testing.T) {
	f := newFixture(t)
	good := map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3}
	cases := []struct {
		name     string
		cfg      func(*Config)
		routing  func(*Routing)
		nilStore bool
		backends map[string]storage.Backend
		errPart  string
	}{
		{name: "ok", backends: good},
		{name: "missing s3 backend", backends: map[string]storage.Backend{dfs.MountPointBackend: f.mount}, errPart: dfs.S3Backend},
		{name: "missing default backend", backends: map[string]storage.Backend{dfs.S3Backend: f.s3}, errPart: dfs.MountPointBackend},
		{name: "nil store", nilStore: true, backends: good, errPart: "store"},
		{name: "no table", routing: func(r *Routing) { r.Tables = dfs.Tables{} }, backends: good, errPart: "table"},
		{name: "negative expiry", cfg: func(c *Config) { c.ExpiryTimeout = -1 }, backends: good, errPart: "expiry"},
		{name: "negative max ranges", cfg: func(c *Config) { c.MaxRanges = -1 }, backends: good, errPart: "max ranges"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			r := f.routing(t)
			if c.routing != nil {
				c.routing(&r)
			}
			var store metadata.Store = f.store
			if c.nilStore {
				store = nil
			}
			_, err := New(cfg, r, store, c.backends, nil, nil)
			switch {
			case c.errPart == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.errPart != "" && (err == nil || !strings.Contains(err.Error(), c.errPart)):
				t.Fatalf("error %v, want one mentioning %q", err, c.errPart)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, testConfig())
	cases := []struct {
		name, in string
		echoed   bool
	}{
		{"sane", "abc-DEF_1.2", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"65 chars", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"empty", "", false},
		{"slash", "a/b", false},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if c.in == "" {
				get(h, rec, imgPath)
			} else {
				get(h, rec, imgPath, "X-Request-Id", c.in)
			}
			id := rec.Header().Get("X-Request-Id")
			if c.echoed != (id == c.in) {
				t.Errorf("X-Request-Id = %q for %q", id, c.in)
			}
			if !saneRequestID(id) {
				t.Errorf("generated id %q is not sane", id)
			}
			if !c.echoed {
				if seen[id] {
					t.Errorf("generated id %q repeated", id)
				}
				seen[id] = true
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	cfg := testConfig()
	cfg.AccessLog = true
	h, err := New(cfg, f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3},
		slog.New(slog.NewJSONHandler(&buf, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	get(h, httptest.NewRecorder(), imgPath, "X-Request-Id", "req-1", "Range", "bytes=0-9")
	var line struct {
		Msg, Method, Path, Backend, RequestID string
		Status                                int
		Bytes                                 int64
		Duration                              int64
	}
	dec := json.NewDecoder(&buf)
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &line)
	line.RequestID, _ = raw["request_id"].(string)
	if line.Msg != "request" || line.Method != "GET" || line.Path != img || line.Status != 206 ||
		line.Bytes != 10 || line.Backend != labelMountPoint || line.RequestID != "req-1" {
		t.Errorf("access log line = %+v (%s)", line, b)
	}
	if _, ok := raw["duration"]; !ok {
		t.Error("no duration")
	}
}

// TestUnavailableErrors: any Lookup error other than ErrNotFound is 503, including ones that do
// not wrap ErrUnavailable.
func TestUnavailableErrors(t *testing.T) {
	for _, e := range []error{metadata.ErrUnavailable, context.DeadlineExceeded, errors.New("driver: bad connection")} {
		t.Run(e.Error(), func(t *testing.T) {
			f := newFixture(t)
			f.store.err = e
			h := f.handler(t, testConfig())
			rec := httptest.NewRecorder()
			get(h, rec, imgPath)
			if rec.Code != 503 || rec.Header().Get("Retry-After") != "5" {
				t.Errorf("status %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
			}
			if strings.Contains(rec.Body.String(), e.Error()) {
				t.Error("error text exposed")
			}
		})
	}
	t.Run("storage open unavailable", func(t *testing.T) {
		f := newFixture(t)
		f.mount.openErr[img] = fmt.Errorf("stale NFS handle: %w", storage.ErrUnavailable)
		h := f.handler(t, testConfig())
		rec := httptest.NewRecorder()
		get(h, rec, imgPath)
		if rec.Code != 503 || rec.Header().Get("Served-by") != "" {
			t.Errorf("status %d headers %v", rec.Code, rec.Header())
		}
	})
}

// BenchmarkServeFastHTTP measures per-request overhead on the hot path (200 from the mount
// point): the handler and the body stream written to a discarding writer.
func BenchmarkServeFastHTTP(b *testing.B) {
	f := &fixture{store: newFakeStore(), s3: newFakeS3()}
	f.mount = &fakeMount{root: b.TempDir(), opens: map[string]int{}, openErr: map[string]error{}}
	f.store.put(dfs.DefaultStorageTable, metadata.File{Name: img, Datatype: "image/jpeg", Size: 1000, MTime: mtime})
	if err := os.MkdirAll(f.mount.root+"/"+img[:strings.LastIndexByte(img, '/')], 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(f.mount.root+"/"+img, content(1000), 0o644); err != nil {
		b.Fatal(err)
	}
	allow, _ := dfs.NewAllowList(dfs.DefaultServedPatterns)
	h, err := New(testConfig(), Routing{Allow: allow, Tables: dfs.DefaultTables(), Dispatch: dfs.Dispatch{}}, f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount}, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.SetMethod(http.MethodGet)
	req.Header.SetRequestURI(imgPath)
	var rc fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		rc.Init(&req, nil, nil)
		h.ServeFastHTTP(&rc)
		if rc.Response.StatusCode() != 200 {
			b.Fatal(rc.Response.StatusCode())
		}
		if _, err := rc.Response.BodyStream().(io.WriterTo).WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
		rc.Response.Reset()
	}
}

// TestClientGoneIsNotAnError: a client that hangs up in the middle of a body (a browser cancelling
// an image load) is counted as client_gone and logged at Debug, not Error, and is not a storage
// error. The body goes through sendfile, whose failure is reported as "readfrom ...: broken
// pipe".
func TestClientGoneIsNotAnError(t *testing.T) {
	f := newFixture(t)
	name := imgX + "big.bin"
	const size = 32 << 20
	f.mount.write(t, name, content(size))
	f.store.put(dfs.DefaultStorageTable, metadata.File{Name: name, Datatype: "application/octet-stream", Size: size, MTime: mtime})
	var logs bytes.Buffer
	var mu sync.Mutex
	reg := prometheus.NewRegistry()
	h, err := New(testConfig(), f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3},
		slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})), reg)
	if err != nil {
		t.Fatal(err)
	}
	addr := tcpServer(t, h)

	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", name)
		buf := make([]byte, 64<<10)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			c.(*net.TCPConn).SetLinger(0) // RST instead of FIN: ECONNRESET on the server side
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(h.metrics.events.WithLabelValues(eventClientGone)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("client_gone = %v after 10 s, want 3", testutil.ToFloat64(h.metrics.events.WithLabelValues(eventClientGone)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client hanging up was logged as an error:\n%s", logs.String())
	}
	if got := testutil.ToFloat64(h.metrics.events.WithLabelValues(eventStorageError)); got != 0 {
		t.Errorf("storage_error = %v, want 0", got)
	}
	if !strings.Contains(logs.String(), "client gone during body") {
		t.Errorf("no debug line for the client going away:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// writeCounter is a writer (without ReadFrom) that records the size of every Write.
type writeCounter struct {
	writes []int
	n      int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	w.n += len(p)
	return len(p), nil
}

// TestS3BodyLargeWrites: a body that cannot be sendfiled (S3) is copied 256 KiB at a time, not
// in a generic copy's 32 KiB steps (2,425 → 2,539–2,633 req/s at max rate in
// `BENCH_QUICK=1 BENCH_ONLY=s3 benchmarks/run`).
func TestS3BodyLargeWrites(t *testing.T) {
	f := newFixture(t)
	name := s3Prefix + "big.png"
	data := content(1 << 20)
	f.s3.objects[name] = data
	f.store.put(dfs.DefaultStorageTable, metadata.File{Name: name, Datatype: "image/png", Size: int64(len(data)), MTime: mtime})
	h := f.handler(t, testConfig())
	w := &writeCounter{}
	rc := serveCtx(h, http.MethodGet, "/"+name)
	if rc.Response.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, want 200", rc.Response.StatusCode())
	}
	writeBody(t, rc, w)
	if w.n != len(data) {
		t.Fatalf("%d bytes; want %d", w.n, len(data))
	}
	if len(w.writes) > 4 {
		t.Errorf("1 MiB S3 body took %d writes (sizes %v); want at most 4 (256 KiB each)", len(w.writes), w.writes)
	}
}

// streamingS3 is an S3-like backend whose object is a long generated stream: it counts the
// bytes read from it and whether the object was closed.
type streamingS3 struct {
	size   int64
	read   atomic.Int64
	closed chan struct{}
}

func (b *streamingS3) Open(context.Context, string) (storage.Object, error) { return b, nil }
func (b *streamingS3) Size() int64                                          { return -1 }
func (b *streamingS3) Close() error                                         { close(b.closed); return nil }
func (b *streamingS3) Range(_ context.Context, off, n int64) (io.Reader, error) {
	return io.LimitReader(readerFunc(func(p []byte) (int, error) {
		b.read.Add(int64(len(p)))
		return len(p), nil
	}), n), nil
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestS3StreamStopsWhenClientGoes: a client hanging up in the middle of an S3 body stops the
// download from S3 at once (the copy stops at the first failed write and the object, i.e. the
// S3 response body, is closed), counted as client_gone, instead of reading the object to its end.
func TestS3StreamStopsWhenClientGoes(t *testing.T) {
	f := newFixture(t)
	const size = 1 << 30
	name := s3Prefix + "huge.png"
	f.store.put(dfs.DefaultStorageTable, metadata.File{Name: name, Datatype: "image/png", Size: size, MTime: mtime})
	s3 := &streamingS3{size: size, closed: make(chan struct{})}
	reg := prometheus.NewRegistry()
	h, err := New(testConfig(), f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: s3}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tcpServer(t, h))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", name)
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	select {
	case <-s3.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("S3 object still open 10 s after the client went away (%d bytes read)", s3.read.Load())
	}
	if got := s3.read.Load(); got > 64<<20 {
		t.Errorf("%d bytes read from S3 for a client that hung up after 64 KiB", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(h.metrics.events.WithLabelValues(eventClientGone)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("client_gone = %v, want 1", testutil.ToFloat64(h.metrics.events.WithLabelValues(eventClientGone)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%d bytes read from S3 before the copy stopped", s3.read.Load())
}

// TestListenerPipeliningAndHTTP10: requests pipelined in one write are answered in order on
// the one connection (bodies from sendfile included), and an HTTP/1.0 request without
// keep-alive gets its answer, then the connection is closed, as net/http did.
func TestListenerPipeliningAndHTTP10(t *testing.T) {
	f := newFixture(t)
	addr := tcpServer(t, f.handler(t, testConfig()))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET %[1]s HTTP/1.1\r\nHost: x\r\n\r\nHEAD %[1]s HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET %[1]s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\nGET /%[2]snope.jpg HTTP/1.1\r\nHost: x\r\n\r\n", imgPath, imgX)
	br := bufio.NewReader(c)
	for i, want := range []struct {
		method string
		code   int
		body   []byte
	}{{"GET", 200, f.data}, {"HEAD", 200, nil}, {"GET", 206, f.data[:10]}, {"GET", 404, nil}} {
		rec := httptest.NewRecorder()
		if err := readRaw(br, want.method, rec); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		if rec.Code != want.code || want.body != nil && !bytes.Equal(rec.Body.Bytes(), want.body) {
			t.Fatalf("response %d: status %d, %d bytes; want %d, %d bytes", i+1, rec.Code, rec.Body.Len(), want.code, len(want.body))
		}
	}

	c10, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c10.Close()
	c10.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c10, "GET %s HTTP/1.0\r\n\r\n", imgPath)
	br = bufio.NewReader(c10)
	rec := httptest.NewRecorder()
	if err := readRaw(br, "GET", rec); err != nil || rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), f.data) {
		t.Fatalf("HTTP/1.0: status %d, %d bytes, %v", rec.Code, rec.Body.Len(), err)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("HTTP/1.0 connection after the answer: %d bytes, %v; want EOF", n, err)
	}
}

// stallingS3 is an S3-like backend whose object sends head, then no more bytes until the read's
// context is cancelled.
type stallingS3 struct{ head []byte }

func (b stallingS3) Open(context.Context, string) (storage.Object, error) { return b, nil }
func (b stallingS3) Size() int64                                          { return -1 }
func (b stallingS3) Close() error                                         { return nil }
func (b stallingS3) Range(ctx context.Context, off, n int64) (io.Reader, error) {
	return io.MultiReader(bytes.NewReader(b.head), readerFunc(func([]byte) (int, error) {
		<-ctx.Done()
		return 0, fmt.Errorf("fake s3 body: %w", ctx.Err())
	})), nil
}

// TestS3ReadStall: an S3 body that stops sending is ended after ReadStallTimeout (fasthttp
// would never cancel it): the client gets the bytes sent so far and then end of file, never a
// complete-looking answer, and the read counts as a storage error.
func TestS3ReadStall(t *testing.T) {
	f := newFixture(t)
	name := s3Prefix + "stall.png"
	f.store.put(dfs.DefaultStorageTable, metadata.File{Name: name, Datatype: "image/png", Size: 1 << 20, MTime: mtime})
	cfg := testConfig()
	cfg.ReadStallTimeout = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	h, err := New(cfg, f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: stallingS3{head: content(100 << 10)}}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tcpServer(t, h))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // only a missing guard reaches it
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", name)
	rec := httptest.NewRecorder()
	err = readRaw(bufio.NewReader(c), http.MethodGet, rec)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("stalled S3 body still held the response after 20 s (%d bytes)", rec.Body.Len())
	}
	if rec.Code != 200 || err == nil || !bytes.Equal(rec.Body.Bytes(), content(100<<10)) {
		t.Fatalf("status %d, %d bytes, err %v; want 200, the 100 KiB sent, then end of file", rec.Code, rec.Body.Len(), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(h.metrics.events.WithLabelValues(eventStorageError)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("storage_error = %v, want 1", testutil.ToFloat64(h.metrics.events.WithLabelValues(eventStorageError)))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListenerReadTimeout: a client that sends an incomplete request (slowloris) or nothing is
// disconnected after the read-header timeout without an answer, as net/http did (fasthttp's
// default is a 408 answer).
func TestListenerReadTimeout(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, testConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h.ServeFastHTTP, Limits{ReadHeaderTimeout: 100 * time.Millisecond, MaxHeaderBytes: 16 << 10})
	go srv.Serve(ln)
	defer srv.Close()
	defer srv.Shutdown(t.Context())
	for name, sent := range map[string]string{"nothing": "", "half a request": "GET " + imgPath + " HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, sent)
		got, err := io.ReadAll(c)
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: connection still open after 20 s", name)
		}
		if len(got) != 0 {
			t.Errorf("%s: answered %q, want the connection closed without an answer", name, truncate(got))
		}
	}
}
