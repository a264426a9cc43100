package ops

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// slowHandler writes 10 numbered chunks about 100 ms apart (~1 s total).
func slowHandler(started chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for i := range 10 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			if i == 0 && started != nil {
				close(started)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitRefused polls until dialing addr fails, or fails the test after a generous deadline.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections after shutdown began", addr)
}

func TestListenAndServeGracefulShutdown(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	started := make(chan struct{})
	srv := &http.Server{Handler: slowHandler(started)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- ListenAndServe(ctx, srv, ln, 30*time.Second, nil) }()

	resp, err := http.Get("http://" + addr + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "chunk 0\n" {
		t.Fatalf("first chunk %q, %v", first, err)
	}
	<-started
	cancel() // SIGTERM

	waitRefused(t, addr)

	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("in-flight response cut: %v (got %q)", err, rest)
	}
	lines := strings.Split(strings.TrimSpace(first+string(rest)), "\n")
	if len(lines) != 10 || lines[9] != "chunk 9" {
		t.Fatalf("in-flight response incomplete: %q", lines)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("ListenAndServe = %v, want nil after a clean stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
}

func TestListenAndServeIdleKeepAlive(t *testing.T) {
	ln := listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") })}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- ListenAndServe(ctx, srv, ln, 30*time.Second, nil) }()

	client := &http.Client{Transport: &http.Transport{}} // keeps the connection idle in its pool
	resp, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cancel()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("ListenAndServe = %v with only an idle keep-alive connection", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("an idle keep-alive connection blocked shutdown")
	}
}

func TestListenAndServeShutdownTimeout(t *testing.T) {
	ln := listen(t)
	release := make(chan struct{})
	defer close(release)
	inHandler := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		close(inHandler)
		<-release
	})}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- ListenAndServe(ctx, srv, ln, 50*time.Millisecond, nil) }()

	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/hang")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-inHandler
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ListenAndServe = %v, want an error wrapping context.DeadlineExceeded", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ListenAndServe did not give up after the shutdown timeout")
	}
}

func TestListenAndServeServeError(t *testing.T) {
	ln := listen(t)
	ln.Close()
	err := ListenAndServe(context.Background(), &http.Server{}, ln, time.Second, nil)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("ListenAndServe on a closed listener = %v, want a serve error", err)
	}
}

func TestListenAndServeAlreadyCancelled(t *testing.T) {
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ListenAndServe(ctx, &http.Server{}, ln, time.Second, nil); err != nil {
		t.Fatalf("ListenAndServe with a cancelled ctx = %v, want nil", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still open after return")
	}
}
