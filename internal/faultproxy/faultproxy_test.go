package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestModes(t *testing.T) {
	p, err := Start(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, err := roundTrip(p.Addr(), time.Second); err != nil || got != "ping\n" {
		t.Fatalf("pass: %q, %v", got, err)
	}
	if err := p.SetMode(Refuse); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("refuse: dial succeeded")
	}
	if err := p.SetMode(Blackhole); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), 200*time.Millisecond); err == nil {
		t.Fatal("blackhole: got an answer")
	}
	if err := p.SetMode(Pass); err != nil {
		t.Fatal(err)
	}
	p.SetDelay(100 * time.Millisecond)
	start := time.Now()
	if got, err := roundTrip(p.Addr(), 2*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("delayed pass: %q, %v", got, err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("delay not applied")
	}
	if p.Accepted() < 3 {
		t.Fatalf("accepted = %d", p.Accepted())
	}
}
