// Package faultproxy is a TCP proxy for tests that puts a real server (MariaDB, memcached, S3)
// behind an address whose behaviour the test controls: pass traffic, refuse connections, accept
// and never answer (a black hole), or add latency. It lets fault-injection tests take a dependency
// "down" and back without stopping the shared server other tests use.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mode is what the proxy does with connections.
type Mode int

const (
	// Pass forwards traffic both ways.
	Pass Mode = iota
	// Refuse closes the listening socket: new connections get "connection refused"; existing
	// ones are cut.
	Refuse
	// Blackhole accepts connections and reads them but never forwards or answers, like a
	// firewalled or hung server; existing connections are cut.
	Blackhole
)

// Proxy forwards one local address to a target address.
type Proxy struct {
	target string
	addr   string

	mu       sync.Mutex
	ln       net.Listener
	mode     Mode
	delay    time.Duration
	conns    map[net.Conn]struct{}
	accepted int
	closed   bool
	wg       sync.WaitGroup
}

// Start listens on a free loopback port below the kernel's ephemeral range and forwards to
// target.
func Start(target string) (*Proxy, error) {
	ln, err := listenOutsideEphemeral()
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's address (host:port); it stays the same across mode changes.
func (p *Proxy) Addr() string { return p.addr }

// Accepted counts connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// SetDelay adds d before each chunk forwarded from the target to the client (0 = none).
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// SetMode switches behaviour. Leaving Pass cuts every open connection; entering Refuse closes
// the listener, leaving it re-opens the same port.
func (p *Proxy) SetMode(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	old := p.mode
	p.mode = m
	if m != Pass {
		for c := range p.conns {
			c.Close()
		}
	}
	switch {
	case m == Refuse && old != Refuse:
		p.ln.Close()
		p.ln = nil
	case m != Refuse && old == Refuse:
		ln, err := relisten(p.addr)
		if err != nil {
			return fmt.Errorf("faultproxy: re-listen %s: %w", p.addr, err)
		}
		p.serveLocked(ln)
	}
	return nil
}

// listenOutsideEphemeral listens on a random free loopback port below the ephemeral port range.
// A port inside that range cannot be reliably listened on again after Refuse: a client dialling
// the closed port can be given that very port as its own (a TCP self-connect; the Go dialer
// undoes it), and the undone connection then holds the port in TIME_WAIT for a minute, which
// blocks a new listener (seen in the fault suite as "bind: address already in use").
func listenOutsideEphemeral() (net.Listener, error) {
	low := 32768 // Linux default net.ipv4.ip_local_port_range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low > 2048 {
		for range 100 {
			port := 1024 + rand.IntN(low-1024)
			if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				return ln, nil
			}
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// relistenFor bounds how long relisten waits for the port to come free.
const relistenFor = 5 * time.Second

// relisten listens on addr again. While the proxy refused, the port was free and may be held
// for a moment by another socket (see listenOutsideEphemeral): bind then fails with EADDRINUSE,
// so it is retried for a few seconds.
func relisten(addr string) (net.Listener, error) {
	deadline := time.Now().Add(relistenFor)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				return
			}
			mode := p.mode
			if mode == Refuse { // accepted just before SetMode(Refuse) closed the listener
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.accepted++
			p.conns[c] = struct{}{}
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer p.forget(c)
				if mode == Blackhole {
					io.Copy(io.Discard, c)
					return
				}
				p.forward(c)
			}()
		}
	}()
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) forward(client net.Conn) {
	upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[upstream] = struct{}{}
	p.mu.Unlock()
	defer p.forget(upstream)
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upstream, client)
		done <- struct{}{}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := upstream.Read(buf)
			if n > 0 {
				p.mu.Lock()
				d := p.delay
				p.mu.Unlock()
				if d > 0 {
					time.Sleep(d)
				}
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
}
