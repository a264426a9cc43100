package httpserve

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// rawConn returns the socket of c, or nil when c has none (an in-memory listener's).
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// cork sets or clears TCP_CORK (nginx's tcp_nopush) on a connection's socket (rawConn); it
// reports whether the socket took it. While corked, the headers wait in the kernel for the
// start of the body instead of leaving as a packet of their own, which on a busy server costs
// as much as a second response. Clearing it pushes out whatever partial segment was held back.
func cork(rc syscall.RawConn, on bool) bool {
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	}); err != nil {
		return false
	}
	return serr == nil
}

// clientWatchInterval is how often watchClient looks at the connection.
const clientWatchInterval = 10 * time.Millisecond

// watchClient returns a context derived from ctx that is cancelled when the client closes c
// (a peek at the socket reads end-of-file or a reset), checked every clientWatchInterval until
// stop is called. fasthttp does not notice a client going away while the handler runs; this is
// for the rare waits that are worth ending early (the NFS-lag pause). Connections without a
// socket are not watched.
func watchClient(ctx context.Context, c net.Conn) (context.Context, func()) {
	rc := rawConn(c)
	if rc == nil {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(clientWatchInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-wctx.Done():
				return
			case <-t.C:
				if peerClosed(rc) {
					cancel()
					return
				}
			}
		}
	}()
	return wctx, func() { close(done); cancel() }
}

// peerClosed peeks at the socket without blocking: end-of-file or an error other than "no data
// yet" means the client is gone. Data waiting (a pipelined request) means it is still there.
func peerClosed(rc syscall.RawConn) bool {
	var b [1]byte
	closed := false
	err := rc.Control(func(fd uintptr) {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err != nil && err != unix.EAGAIN && err != unix.EINTR
	})
	return err != nil || closed
}

// fastHeader reads request header fields from fasthttp the way http.Header's Get and Values do
// (fasthttp normalizes request header names, so lookups are case-insensitive).
type fastHeader struct{ h *fasthttp.RequestHeader }

// Get returns the first value of key, or "".
func (f fastHeader) Get(key string) string { return string(f.h.Peek(key)) }

// Values returns every value of key, one per field line.
func (f fastHeader) Values(key string) []string {
	all := f.h.PeekAll(key)
	if len(all) == 0 {
		return nil
	}
	vs := make([]string, len(all))
	for i, v := range all {
		vs[i] = string(v)
	}
	return vs
}

// headerSource is what preconditions and ranges read: fastHeader on the serving path,
// http.Header in unit tests.
type headerSource interface {
	Get(key string) string
	Values(key string) []string
}
