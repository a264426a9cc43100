package httpserve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// fastHandler is what the test helpers serve: *Handler, or a handlerFunc.
type fastHandler interface {
	ServeFastHTTP(rc *fasthttp.RequestCtx)
}

// handlerFunc adapts a fasthttp.RequestHandler (Handler.Unavailable) to fastHandler.
type handlerFunc fasthttp.RequestHandler

func (f handlerFunc) ServeFastHTTP(rc *fasthttp.RequestCtx) { f(rc) }

// testLimits are the listener limits of the helpers: the daemon's timeouts do not matter
// here, and the header limit is large so the handler sees the hostile headers.
var testLimits = Limits{MaxHeaderBytes: 1 << 20}

func get(h fastHandler, w *httptest.ResponseRecorder, target string, headers ...string) {
	serve(h, w, http.MethodGet, target, headers...)
}

// serve sends method with the raw request target and the header pairs to h, through the real
// listener (NewServer on an in-memory connection), and records the answer in w with the header
// names exactly as they were sent. The request is a plain keep-alive one; once the answer is
// read, the client hangs up and serve waits for the server to close the connection, so the
// exchange's metrics and access log line are recorded on return. It returns the error that
// ended reading the answer early (an aborted response), if any.
func serve(h fastHandler, w *httptest.ResponseRecorder, method, target string, headers ...string) error {
	srv := NewServer(h.ServeFastHTTP, testLimits)
	closed := make(chan struct{})
	track := srv.fs.ConnState
	srv.fs.ConnState = func(c net.Conn, st fasthttp.ConnState) {
		track(c, st)
		if st == fasthttp.StateClosed {
			close(closed)
		}
	}
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { ln.Close(); <-done }()
	c, err := ln.Dial()
	if err != nil {
		panic(err)
	}
	go writeRequest(c, method, target, headers...)
	err = readRaw(bufio.NewReader(c), method, w)
	c.Close()
	<-closed
	return err
}

// writeRequest writes an HTTP/1.1 request with a Host header.
func writeRequest(c io.Writer, method, target string, headers ...string) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: example.com\r\n", method, target)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	_, _ = c.Write(b.Bytes())
}

// readRaw reads one response into w: status, header fields under the names sent, and the body
// (none for HEAD, 304 and 204; Content-Length bytes, or everything until EOF). A body that
// ends before its Content-Length returns an error, with what arrived in w.Body.
func readRaw(br *bufio.Reader, method string, w *httptest.ResponseRecorder) error {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return fmt.Errorf("status line: %w", err)
	}
	_, rest, _ := strings.Cut(line, " ")
	code, err := strconv.Atoi(strings.SplitN(rest, " ", 2)[0])
	if err != nil {
		return fmt.Errorf("status line %q: %w", line, err)
	}
	w.Code = code
	hdr := w.Header()
	for {
		l, err := tp.ReadLine()
		if err != nil {
			return fmt.Errorf("header: %w", err)
		}
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("header line %q", l)
		}
		hdr[k] = append(hdr[k], strings.TrimLeft(v, " \t"))
	}
	if method == http.MethodHead || code == http.StatusNotModified || code == http.StatusNoContent || code < 200 {
		return nil
	}
	if cls := hdr["Content-Length"]; len(cls) == 1 {
		n, err := strconv.ParseInt(cls[0], 10, 64)
		if err != nil {
			return fmt.Errorf("Content-Length %q: %w", cls[0], err)
		}
		got, err := io.CopyN(w.Body, br, n)
		if err != nil {
			return fmt.Errorf("body ended after %d of %d bytes: %w", got, n, err)
		}
		return nil
	}
	_, err = io.Copy(w.Body, br)
	return err
}

// tcpServer serves h with NewServer on a loopback TCP listener (sendfile, TCP_CORK and client
// hang-ups are real there) and returns its address; the server stops with the test.
func tcpServer(t testing.TB, h fastHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h.ServeFastHTTP, testLimits)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(t.Context())
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// serveCtx runs h in process on a request built without a connection, and returns the context
// with the response fasthttp would write (its body stream not yet written).
func serveCtx(h fastHandler, method, target string, headers ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.Header.SetRequestURI(target)
	req.Header.SetHost("example.com")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rc := &fasthttp.RequestCtx{}
	rc.Init(&req, nil, nil)
	h.ServeFastHTTP(rc)
	return rc
}

// serveWritten runs h in process like serveCtx (the handler alone, without the listener's
// request checks), then has fasthttp write the whole response (status line, headers, body
// stream) and records it in w as serve does. It returns the error writing or reading the
// response met.
func serveWritten(h fastHandler, w *httptest.ResponseRecorder, method, target string, headers ...string) error {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.Header.SetRequestURI(target)
	req.Header.SetHost("example.com")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rc := &fasthttp.RequestCtx{}
	rc.Init(&req, nil, nil)
	h.ServeFastHTTP(rc)
	if rc.IsHead() {
		rc.Response.SkipBody = true
	}
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	if err := rc.Response.Write(bw); err != nil {
		return fmt.Errorf("writing the response: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return readRaw(bufio.NewReader(&out), method, w)
}
