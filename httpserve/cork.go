package httpserve

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

type socketKey struct{}

// ConnContext is an http.Server ConnContext hook: it remembers each connection's socket so the
// handler can cork it (TCP_CORK, nginx's tcp_nopush) while it writes the headers and sendfiles
// the body. Without it the headers leave as a packet of their own, which on a busy server costs
// as much as a second response. Servers that do not install the hook still work, uncorked.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return context.WithValue(ctx, socketKey{}, rc)
		}
	}
	return ctx
}

// cork sets or clears TCP_CORK on the request's connection; it reports whether the socket
// took it. Clearing it pushes out whatever partial segment was held back.
func cork(ctx context.Context, on bool) bool {
	rc, ok := ctx.Value(socketKey{}).(syscall.RawConn)
	if !ok {
		return false
	}
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
