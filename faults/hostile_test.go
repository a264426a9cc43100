package faults

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// The hostile-request corpus: raw requests written to a real listener of the daemon (SQLite
// metadata + mount point), with bait outside the mount point that a traversal or a symlink
// escape would reach. Every answer must be of the expected status class, never a 5xx other than
// a deliberate 503, and never carry a byte of the bait.

const (
	imagesDir   = "var/site/storage/images/"
	goodName    = imagesDir + "good.jpg"
	bigName     = imagesDir + "big.jpg"
	literalName = imagesDir + "%2e%2e/literal.jpg" // a directory really named "%2e%2e"
	baitMarker  = "BAIT-f00dfeed-BAIT"
	bigSize     = 32 << 20 // more than loopback socket buffers hold
)

// hostileSite is the populated mount point, its metadata and the bait.
type hostileSite struct {
	dir     string // temp root: mount/, secret/, db.sqlite
	mount   string
	sqlite  string
	good    []byte
	literal []byte
	big     []byte
}

// args returns the config.Load arguments serving the site.
func (s *hostileSite) args(extra ...string) []string {
	return append([]string{"--metadata=sqlite", "--sqlite=" + s.sqlite, "--mount-point=" + s.mount}, extra...)
}

// newHostileSite writes the files, the symlinks out of the mount point and the metadata rows
// (rows exist for the symlinks too, so only the mount point's confinement stands between a
// request and the bait).
func newHostileSite(t *testing.T) *hostileSite {
	t.Helper()
	dir := t.TempDir()
	s := &hostileSite{
		dir:     dir,
		mount:   filepath.Join(dir, "mount"),
		sqlite:  filepath.Join(dir, "db.sqlite"),
		good:    pattern("good-image-bytes", 3000),
		literal: []byte("LITERAL percent-2e directory"),
		big:     pattern("big-image-bytes!", bigSize),
	}
	bait := bytes.Repeat([]byte(baitMarker+"\n"), 64)
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "bait.jpg", bait)
	writeFile(t, secret, "passwd", bait)
	writeFile(t, dir, "bait.jpg", bait) // the mount point's parent
	writeFile(t, s.mount, goodName, s.good)
	writeFile(t, s.mount, literalName, s.literal)
	writeFile(t, s.mount, bigName, s.big)
	imgs := filepath.Join(s.mount, filepath.FromSlash(imagesDir))
	for link, target := range map[string]string{
		"evil.jpg": "../../../../../secret/bait.jpg", // relative, climbs out
		"abs.jpg":  filepath.Join(secret, "bait.jpg"),
		"evildir":  secret,
		"up":       "../../../..", // the mount point itself, then ../bait.jpg
	} {
		if err := os.Symlink(target, filepath.Join(imgs, link)); err != nil {
			t.Fatal(err)
		}
	}

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
	if err := store.CreateSchema(ctx); err != nil {
		t.Fatal(err)
	}
	rows := []metadata.File{
		{Name: goodName, Size: int64(len(s.good))},
		{Name: literalName, Size: int64(len(s.literal))},
		{Name: bigName, Size: bigSize},
		{Name: imagesDir + "evil.jpg", Size: int64(len(bait))},
		{Name: imagesDir + "abs.jpg", Size: int64(len(bait))},
		{Name: imagesDir + "evildir/bait.jpg", Size: int64(len(bait))},
		{Name: imagesDir + "evildir/passwd", Size: int64(len(bait))},
		{Name: imagesDir + "up/bait.jpg", Size: int64(len(bait))},
	}
	for _, r := range rows {
		r.Datatype, r.Scope, r.MTime = "image/jpeg", "image", 1700000000
		if err := store.Put(ctx, cfg.Table, r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// response is one parsed answer read off a raw connection.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error // reading failed (connection closed, malformed answer)
}

// readResponse reads one response to a request of method from br.
func readResponse(br *bufio.Reader, method string) response {
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: body, err: err}
}

// rawRequest writes req (raw bytes, CRLFs included) on a new connection and reads one response.
// A failed dial is returned in response.err, like any other failure, so rawRequest may run on
// goroutines other than the test's.
func rawRequest(addr, method, req string) response {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return response{err: fmt.Errorf("dial: %w", err)}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return response{err: err}
	}
	return readResponse(bufio.NewReader(c), method)
}

// expectation of a hostile request.
type expect int

const (
	want4xx     expect = iota // any 4xx
	wantGood                  // 200 with good.jpg's bytes
	wantLiteral               // 200 with the literal %2e%2e file's bytes
	wantNot5xx                // anything but a 5xx (e.g. a harmless 200 or 404)
)

func get(target string, headers ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: ezdfsd.test\r\n" + strings.Join(headers, "") + "Connection: close\r\n\r\n"
}

func TestHostileRequests(t *testing.T) {
	site := newHostileSite(t)
	d := startDaemon(t, site.args("--read-header-timeout=1s", "--max-header-bytes=16384")...)

	up5 := strings.Repeat("../", 5)
	cases := []struct {
		name   string
		method string // for reading the answer; GET if empty
		req    string
		want   expect
		status int // exact status when not 0
	}{
		{name: "control good.jpg", req: get("/" + goodName), want: wantGood},
		{name: "traversal ../", req: get("/" + imagesDir + up5 + "secret/bait.jpg"), want: want4xx, status: 404},
		{name: "traversal ../ to parent", req: get("/" + imagesDir + up5 + "bait.jpg"), want: want4xx},
		{name: "traversal %2e%2e/", req: get("/" + imagesDir + strings.Repeat("%2e%2e/", 5) + "secret/bait.jpg"), want: want4xx, status: 404},
		{name: "traversal %2E%2E%2F", req: get("/" + imagesDir + strings.Repeat("%2E%2E%2F", 5) + "secret%2Fbait.jpg"), want: want4xx, status: 404},
		{name: "traversal .%2e/", req: get("/" + imagesDir + strings.Repeat(".%2e/", 5) + "secret/bait.jpg"), want: want4xx},
		{name: "traversal ..%5c", req: get("/" + imagesDir + strings.Repeat("..%5c", 5) + "secret%5cbait.jpg"), want: want4xx, status: 404},
		{name: "traversal raw backslash", req: get("/" + imagesDir + strings.Repeat(`..\`, 5) + `secret\bait.jpg`), want: want4xx},
		{name: "traversal %252e%252e (not double-decoded)", req: get("/" + imagesDir + strings.Repeat("%252e%252e/", 5) + "secret/bait.jpg"), want: want4xx, status: 404},
		{name: "%252e%252e names the literal directory", req: get("/" + imagesDir + "%252e%252e/literal.jpg"), want: wantLiteral},
		{name: "literal %2e%2e undecoded is traversal", req: get("/" + imagesDir + "%2e%2e/literal.jpg"), want: want4xx},
		{name: "overlong UTF-8 %c0%ae", req: get("/" + imagesDir + strings.Repeat("%c0%ae%c0%ae/", 5) + "secret/bait.jpg"), want: want4xx, status: 404},
		{name: "overlong UTF-8 slash %c0%af", req: get("/" + imagesDir + strings.Repeat("..%c0%af", 5) + "secret/bait.jpg"), want: want4xx, status: 404},
		{name: "dot segment /./", req: get("/" + imagesDir + "./good.jpg"), want: want4xx, status: 404},
		{name: "empty segment //", req: get("/" + imagesDir + "/good.jpg"), want: want4xx, status: 404},
		{name: "leading //", req: get("//" + goodName), want: wantNot5xx},
		{name: "absolute-form", req: get("http://ezdfsd.test/" + goodName), want: wantGood},
		{name: "absolute-form traversal", req: get("http://ezdfsd.test/" + imagesDir + up5 + "secret/bait.jpg"), want: want4xx},
		{name: "absolute-form other scheme", req: get("file:///" + imagesDir + up5 + "secret/bait.jpg"), want: want4xx},
		{name: "asterisk-form GET *", req: get("*"), want: want4xx},
		{name: "symlink file escaping (relative)", req: get("/" + imagesDir + "evil.jpg"), want: want4xx, status: 404},
		{name: "symlink file escaping (absolute)", req: get("/" + imagesDir + "abs.jpg"), want: want4xx, status: 404},
		{name: "symlink directory escaping", req: get("/" + imagesDir + "evildir/bait.jpg"), want: want4xx, status: 404},
		{name: "symlink directory to mount parent", req: get("/" + imagesDir + "up/bait.jpg"), want: want4xx, status: 404},
		{name: "NUL %00", req: get("/" + goodName + "%00.txt"), want: want4xx, status: 404},
		{name: "NUL %00 mid-path", req: get("/" + imagesDir + "%00/../../../../../secret/bait.jpg"), want: want4xx},
		{name: "raw NUL byte", req: get("/" + goodName + "\x00"), want: want4xx, status: 400},
		{name: "bad escape %zz", req: get("/" + imagesDir + "%zz.jpg"), want: want4xx},
		{name: "query ignored", req: get("/" + goodName + "?../../../secret/bait.jpg"), want: wantGood},
		{name: "encoded ? is part of the name", req: get("/" + goodName + "%3F"), want: want4xx, status: 404},
		{name: "8 KiB path", req: get("/" + imagesDir + strings.Repeat("a", 8<<10)), want: want4xx},
		{name: "8 KiB path of segments", req: get("/" + imagesDir + strings.Repeat("a/", 4<<10) + "x.jpg"), want: want4xx},
		{name: "64 KiB path", req: get("/" + imagesDir + strings.Repeat("a", 64<<10)), want: want4xx, status: 431},
		{name: "header over max-header-bytes", req: get("/"+goodName, "X-Big: "+strings.Repeat("x", 32<<10)+"\r\n"), want: want4xx, status: 431},
		{name: "many headers over the limit", req: get("/"+goodName, strings.Repeat("X-A: 0123456789012345678901234567890123456789\r\n", 1000)), want: want4xx, status: 431},
		{name: "1000 ranges", req: get("/"+goodName, "Range: bytes="+manyRanges(1000, func(i int) string { return fmt.Sprintf("%d-%d", 2*i, 2*i) })+"\r\n"), want: wantGood},
		{name: "1000 x 0-0", req: get("/"+goodName, "Range: bytes="+manyRanges(1000, func(int) string { return "0-0" })+"\r\n"), want: wantGood},
		{name: "10 x 0-0 coalesced", req: get("/"+goodName, "Range: bytes="+manyRanges(10, func(int) string { return "0-0" })+"\r\n"), want: wantNot5xx, status: 206},
		{name: "overlapping ranges", req: get("/"+goodName, "Range: bytes=0-100,50-150,100-200,-2999\r\n"), want: wantNot5xx, status: 206},
		{name: "range beyond end", req: get("/"+goodName, "Range: bytes=999999-\r\n"), want: want4xx, status: 416},
		{name: "malformed range ignored", req: get("/"+goodName, "Range: bytes=--1\r\n"), want: wantGood},
		{name: "HTTP/1.0 without Host", req: "GET /" + goodName + " HTTP/1.0\r\n\r\n", want: wantGood},
		{name: "HTTP/1.0 traversal", req: "GET /" + imagesDir + up5 + "secret/bait.jpg HTTP/1.0\r\n\r\n", want: want4xx},
		{name: "HTTP/1.1 without Host", req: "GET /" + goodName + " HTTP/1.1\r\n\r\n", want: want4xx, status: 400},
		{name: "HTTP/0.9", req: "GET /" + goodName + "\r\n\r\n", want: want4xx, status: 400},
		{name: "HTTP/2 preface over HTTP/1", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: want4xx},
		{name: "unknown method", method: "FOO", req: "FOO /" + goodName + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", want: want4xx, status: 405},
		{name: "TRACE", method: "TRACE", req: "TRACE /" + goodName + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", want: want4xx, status: 405},
		{name: "CONNECT", method: "CONNECT", req: "CONNECT ezdfsd.test:443 HTTP/1.1\r\nHost: ezdfsd.test:443\r\nConnection: close\r\n\r\n", want: want4xx},
		{name: "POST with body", method: "POST", req: "POST /" + goodName + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", want: want4xx, status: 405},
		{name: "DELETE", method: "DELETE", req: "DELETE /" + goodName + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", want: want4xx, status: 405},
		{name: "lower-case get", method: "get", req: "get /" + goodName + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", want: want4xx, status: 405},
		{name: "invalid method token", req: "G\x01T /" + goodName + " HTTP/1.1\r\nHost: x\r\n\r\n", want: want4xx, status: 400},
		{name: "CL and TE together", req: "GET /" + goodName + " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", want: wantGood}, // net/http lets TE win and closes
		{name: "duplicate Content-Length", req: "GET /" + goodName + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", want: want4xx, status: 400},
		{name: "header without colon", req: "GET /" + goodName + " HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n", want: want4xx, status: 400},
		{name: "obs-fold header", req: "GET /" + goodName + " HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", want: wantNot5xx}, // net/http unfolds it
		{name: "If-None-Match *", req: get("/"+goodName, "If-None-Match: *\r\n"), want: wantNot5xx, status: 304},
		{name: "control byte in a header", req: get("/"+goodName, "If-None-Match: \"\x7f\r\n"), want: want4xx, status: 400},
		{name: "garbage conditionals ignored", req: get("/"+goodName, "If-None-Match: \"a, W/\"b\r\nIf-Modified-Since: ;;;\r\nIf-Range: W/\r\nIf-Match: ,,\r\nIf-Unmodified-Since: yesterday\r\n"), want: wantGood},
		{name: "garbage If-Range with Range", req: get("/"+goodName, "Range: bytes=0-9\r\nIf-Range: \"unterminated\r\n"), want: wantGood},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			res := rawRequest(d.FilesAddr, method, c.req)
			checkHostileAnswer(t, res, c.want, c.status, site)
			t.Logf("status %d, %d body bytes", res.status, len(res.body))
		})
	}

	t.Run("pipelined requests on one connection", func(t *testing.T) {
		c, err := net.Dial("tcp", d.FilesAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		reqs := "GET /" + goodName + " HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /" + imagesDir + "%252e%252e/literal.jpg HTTP/1.1\r\nHost: x\r\n\r\n" +
			"HEAD /" + imagesDir + "nope.jpg HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /" + goodName + " HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n"
		if _, err := io.WriteString(c, reqs); err != nil { // all at once
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		want := []struct {
			method string
			status int
			body   []byte
		}{
			{"GET", 200, site.good},
			{"GET", 200, site.literal},
			{"HEAD", 404, nil},
			{"GET", 206, site.good[:10]},
		}
		for i, w := range want {
			res := readResponse(br, w.method)
			if res.err != nil {
				t.Fatalf("response %d: %v", i+1, res.err)
			}
			if res.status != w.status || !bytes.Equal(res.body, w.body) && w.body != nil {
				t.Fatalf("response %d: status %d, %d bytes; want %d, %d bytes", i+1, res.status, len(res.body), w.status, len(w.body))
			}
			if w.body == nil && len(res.body) != 0 {
				t.Fatalf("response %d: HEAD with a %d-byte body", i+1, len(res.body))
			}
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after Connection: close: %v, want EOF", err)
		}
	})

	t.Run("slow body reader does not block others", func(t *testing.T) {
		slow, err := net.Dial("tcp", d.FilesAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		if _, err := io.WriteString(slow, get("/"+bigName)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(slow, 1024)
		slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.Peek(512); err != nil { // the download has started
			t.Fatal(err)
		}
		// While the slow download is stuck on a full socket, others are served.
		client := &http.Client{Timeout: 10 * time.Second}
		for i := range 20 {
			res, err := client.Get(d.url("/" + goodName))
			if err != nil {
				t.Fatalf("request %d during the slow download: %v", i, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !bytes.Equal(body, site.good) {
				t.Fatalf("request %d during the slow download: %d, %d bytes", i, res.StatusCode, len(body))
			}
		}
		client.CloseIdleConnections()
		// The slow client still gets exactly the right bytes when it reads them.
		slow.SetReadDeadline(time.Now().Add(60 * time.Second))
		res := readResponse(br, "GET")
		if res.err != nil || res.status != 200 || !bytes.Equal(res.body, site.big) {
			t.Fatalf("slow download: status %d, %d bytes, err %v", res.status, len(res.body), res.err)
		}
	})

	checkHealthy(t, d, "/"+goodName, site.good)
	checkNoPanic(t, d)
}

// checkHostileAnswer asserts the status class, the exact status when given, no 5xx and no bait.
func checkHostileAnswer(t *testing.T, res response, want expect, status int, site *hostileSite) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("no answer: %v", res.err)
	}
	if bytes.Contains(res.body, []byte(baitMarker)) || bytes.Contains(res.body, []byte(baitMarker[:10])) {
		t.Fatalf("status %d: the body holds bait bytes", res.status)
	}
	if res.status >= 500 {
		t.Fatalf("status %d (body %.200q)", res.status, res.body)
	}
	if status != 0 && res.status != status {
		t.Fatalf("status %d, want %d (body %.200q)", res.status, status, res.body)
	}
	switch want {
	case want4xx:
		if res.status < 400 || res.status > 499 {
			t.Fatalf("status %d, want 4xx", res.status)
		}
	case wantGood, wantLiteral:
		body := site.good
		if want == wantLiteral {
			body = site.literal
		}
		if res.status != 200 || !bytes.Equal(res.body, body) {
			t.Fatalf("status %d with %d bytes, want 200 with the file's %d bytes", res.status, len(res.body), len(body))
		}
		if cl := res.header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Fatalf("Content-Length %q", cl)
		}
	}
	if res.status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func manyRanges(n int, spec func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = spec(i)
	}
	return strings.Join(parts, ",")
}

// TestHostileConnectionLimit shows --max-connections is backpressure: a connection beyond the
// limit waits in the accept queue (it is neither refused nor answered with an error) and is
// served as soon as a slot frees.
func TestHostileConnectionLimit(t *testing.T) {
	site := newHostileSite(t)
	const max = 4
	d := startDaemon(t, site.args("--max-connections="+strconv.Itoa(max), "--idle-timeout=60s")...)

	// Hold every slot with an idle keep-alive connection that has been served once.
	var held []net.Conn
	for i := range max {
		c, err := net.Dial("tcp", d.FilesAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(c, "GET /"+goodName+" HTTP/1.1\r\nHost: x\r\n\r\n")
		res := readResponse(bufio.NewReader(c), "GET")
		if res.err != nil || res.status != 200 {
			t.Fatalf("connection %d: %d %v", i, res.status, res.err)
		}
		held = append(held, c)
	}

	type result struct {
		res  response
		took time.Duration
	}
	extra := make(chan result, 1)
	start := time.Now()
	go func() {
		res := rawRequest(d.FilesAddr, "GET", get("/"+goodName))
		extra <- result{res: res, took: time.Since(start)}
	}()
	select {
	case r := <-extra:
		t.Fatalf("connection %d was answered while %d were held: status %d, err %v", max+1, max, r.res.status, r.res.err)
	case <-time.After(500 * time.Millisecond): // still waiting: backpressure
	}
	held[0].Close()
	r := <-extra
	checkHostileAnswer(t, r.res, wantGood, 200, site)
	t.Logf("connection %d served %v after it was opened, once a slot freed", max+1, r.took.Round(time.Millisecond))

	var wg sync.WaitGroup
	for _, c := range held[1:] {
		c.Close()
	}
	// Many more clients than slots all get served, in turn.
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := rawRequest(d.FilesAddr, "GET", get("/"+goodName))
			if res.err != nil || res.status != 200 || !bytes.Equal(res.body, site.good) {
				errs <- fmt.Errorf("status %d, %d bytes, err %v", res.status, len(res.body), res.err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkNoPanic(t, d)
}
