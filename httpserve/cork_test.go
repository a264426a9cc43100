package httpserve

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCork: cork toggles TCP_CORK on the socket of a real TCP connection; a connection without
// a socket is left alone.
func TestCork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	corked := func() int {
		rc, _ := c.(syscall.Conn).SyscallConn()
		v := -1
		rc.Control(func(fd uintptr) { v, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK) })
		return v
	}
	rc := rawConn(c)
	if rc == nil {
		t.Fatal("no socket for a TCP connection")
	}
	if !cork(rc, true) || corked() != 1 {
		t.Fatalf("cork on: TCP_CORK = %d", corked())
	}
	if !cork(rc, false) || corked() != 0 {
		t.Fatalf("cork off: TCP_CORK = %d", corked())
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if rawConn(p1) != nil {
		t.Error("a pipe has a socket to cork")
	}
}
