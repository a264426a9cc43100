package ops

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// LimitListener returns a listener that holds at most max accepted
// connections open at a time; further Accept calls block until one of them is
// closed, so excess clients wait in the kernel's accept backlog
// (backpressure) instead of being served at reduced speed. max <= 0 returns ln
// unchanged. Closing the returned listener unblocks waiting Accept calls.
//
// Accepted connections keep the fast paths of the underlying connection:
// io.ReaderFrom (sendfile/splice for *net.TCPConn) and CloseWrite are passed
// through. Note that idle HTTP keep-alive connections hold a slot: pair this
// with an http.Server IdleTimeout.
func LimitListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{
		Listener: ln,
		sem:      make(chan struct{}, max),
		done:     make(chan struct{}),
	}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back exactly once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps sendfile: net/http only uses it when the connection itself
// implements io.ReaderFrom, which embedding net.Conn would hide.
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// SyscallConn exposes the underlying socket (for TCP_CORK around sendfile, see
// httpserve.ConnContext), or fails when the wrapped connection has none.
func (c *limitConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("limit listener: connection has no socket")
}

// CloseWrite half-closes when the underlying connection supports it (net/http
// uses it for a clean close after errors).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// writerOnly hides ReadFrom so io.Copy cannot recurse into limitConn.ReadFrom.
type writerOnly struct{ io.Writer }
