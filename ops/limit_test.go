package ops

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLimitListenerZeroIsUnlimited(t *testing.T) {
	ln := listen(t)
	defer ln.Close()
	for _, max := range []int{0, -1} {
		if got := LimitListener(ln, max); got != ln {
			t.Errorf("LimitListener(ln, %d) wrapped the listener", max)
		}
	}
}

func TestLimitListenerBlocksExcessAccepts(t *testing.T) {
	inner := listen(t)
	ln := LimitListener(inner, 2)
	defer ln.Close()
	addr := inner.Addr().String()

	for range 3 {
		c, err := net.Dial("tcp", addr) // completes in the kernel backlog
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var accepted []net.Conn
	for range 2 {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, c)
	}
	third := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			third <- c
		}
	}()
	select {
	case <-third:
		t.Fatal("a third connection was accepted while two are open")
	case <-time.After(100 * time.Millisecond):
	}
	accepted[0].Close()
	accepted[0].Close() // a second Close must not free a second slot
	select {
	case c := <-third:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("closing a connection did not let the waiting Accept through")
	}
	accepted[1].Close()
}

func TestLimitListenerCloseUnblocksAccept(t *testing.T) {
	inner := listen(t)
	ln := LimitListener(inner, 1)
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	errc := make(chan error, 1)
	go func() { _, err := ln.Accept(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	ln.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}

func TestLimitListenerBoundsHTTPConcurrency(t *testing.T) {
	const max, clients = 2, 8
	inner := listen(t)
	var inFlight, peak atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		io.WriteString(w, "ok")
	})}
	go srv.Serve(LimitListener(inner, max))
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get("http://" + inner.Addr().String() + "/")
			if err != nil {
				failures.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed; excess connections must wait, not fail", failures.Load())
	}
	if p := peak.Load(); p > max || p < 1 {
		t.Fatalf("peak concurrency %d, want 1..%d", p, max)
	}
}

// recordingConn is a net.Conn whose ReadFrom records that it was used.
type recordingConn struct {
	net.Conn
	readFromCalls int
	buf           bytes.Buffer
}

func (c *recordingConn) ReadFrom(r io.Reader) (int64, error) {
	c.readFromCalls++
	return c.buf.ReadFrom(r)
}

type oneConnListener struct {
	net.Listener
	c net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) { return l.c, nil }

func TestLimitConnKeepsReaderFrom(t *testing.T) {
	t.Run("delegates to the underlying ReadFrom (sendfile path)", func(t *testing.T) {
		rc := &recordingConn{}
		ln := LimitListener(&oneConnListener{c: rc}, 1)
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		rf, ok := c.(io.ReaderFrom)
		if !ok {
			t.Fatal("accepted conn hides io.ReaderFrom: net/http would lose sendfile")
		}
		if _, err := rf.ReadFrom(bytes.NewReader([]byte("payload"))); err != nil {
			t.Fatal(err)
		}
		if rc.readFromCalls != 1 || rc.buf.String() != "payload" {
			t.Fatalf("underlying ReadFrom calls %d, data %q", rc.readFromCalls, rc.buf.String())
		}
	})
	t.Run("real TCP conn with a file", func(t *testing.T) {
		inner := listen(t)
		ln := LimitListener(inner, 1)
		defer ln.Close()
		client, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*limitConn).Conn.(*net.TCPConn); !ok {
			t.Fatalf("underlying conn is %T, want *net.TCPConn", c.(*limitConn).Conn)
		}
		want := bytes.Repeat([]byte("0123456789"), 10000)
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		go func() {
			c.(io.ReaderFrom).ReadFrom(f)
			c.(interface{ CloseWrite() error }).CloseWrite()
		}()
		got, err := io.ReadAll(client)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
		}
		c.Close()
	})
	t.Run("fallback copy without ReaderFrom", func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		ln := LimitListener(&oneConnListener{c: a}, 1)
		c, _ := ln.Accept()
		go func() {
			c.(io.ReaderFrom).ReadFrom(bytes.NewReader([]byte("pipe data")))
			c.Close()
		}()
		got, _ := io.ReadAll(b)
		if string(got) != "pipe data" {
			t.Fatalf("got %q", got)
		}
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatalf("CloseWrite without support = %v, want nil", err)
		}
	})
}

// TestLimitConnKeepsSyscallConn: the wrapped connection still exposes its socket, so the
// handler can cork it around sendfile (httpserve.ConnContext).
func TestLimitConnKeepsSyscallConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := LimitListener(ln, 1)
	defer lim.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	c, err := lim.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatal("limited connection does not implement syscall.Conn")
	}
	if _, err := sc.SyscallConn(); err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
}
