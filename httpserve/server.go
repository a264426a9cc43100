package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Limits are the serving listener's protections (the ops settings of the same names).
type Limits struct {
	// ReadHeaderTimeout bounds reading a request (a GET has no body), from its first byte.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long (0: ReadHeaderTimeout).
	IdleTimeout time.Duration
	// WriteTimeout bounds writing each response (0: none, for big downloads).
	WriteTimeout time.Duration
	// MaxHeaderBytes is the most a request line and header may take; more is answered 431.
	MaxHeaderBytes int
	// MaxConnections is the most connections served at once (0: fasthttp's default). The
	// daemon bounds accepted connections with ops.LimitListener first.
	MaxConnections int
	// Logger receives fasthttp's own error lines at Warn (nil: discarded).
	Logger *slog.Logger
}

// writeBufferSize is each connection's write buffer: the headers and a body of up to
// corkMinBody bytes (fasthttp reads such small files into the buffer) leave in one write.
const writeBufferSize = corkMinBody + 8<<10

// Server is the serving listener: a fasthttp.Server configured like ezdfsd's answers need (no
// Server banner, eZ's header spellings kept, a Date header, net/http's statuses for malformed
// requests), which also remembers its connections so Close can cut them.
type Server struct {
	fs *fasthttp.Server

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewServer builds the serving listener for handler (Handler.ServeFastHTTP, possibly behind
// ops.LimitConcurrency). fasthttp refuses what net/http refused in the hostile-request corpus
// (faults/hostile_test.go: HTTP/1.1 without Host, a method that is not a token, control bytes
// in the target or a header, duplicate Content-Length, HTTP/0.9) before handler runs;
// errorHandler gives those answers net/http's statuses.
func NewServer(handler fasthttp.RequestHandler, lim Limits) *Server {
	s := &Server{conns: map[net.Conn]struct{}{}}
	logger := lim.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s.fs = &fasthttp.Server{
		Handler:               handler,
		ErrorHandler:          errorHandler,
		ReadTimeout:           lim.ReadHeaderTimeout,
		IdleTimeout:           lim.IdleTimeout,
		WriteTimeout:          lim.WriteTimeout,
		ReadBufferSize:        max(lim.MaxHeaderBytes, 1024),
		WriteBufferSize:       writeBufferSize,
		Concurrency:           lim.MaxConnections,
		MaxConnsPerIP:         0,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		GetOnly:               false,
		// A request body is read and ignored (GET and HEAD have none; other methods get 405).
		MaxRequestBodySize: 1 << 20,
		Logger:             fasthttpLogger{logger},
		ConnState:          s.track,
	}
	return s
}

// track remembers open connections for Close.
func (s *Server) track(c net.Conn, state fasthttp.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch state {
	case fasthttp.StateNew:
		s.conns[c] = struct{}{}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		delete(s.conns, c)
	}
}

// Serve serves connections from ln until Shutdown or Close; it returns http.ErrServerClosed
// then, as net/http's server does.
func (s *Server) Serve(ln net.Listener) error {
	err := s.fs.Serve(ln)
	if err == nil || errors.Is(err, net.ErrClosed) {
		return http.ErrServerClosed
	}
	return err
}

// Shutdown stops accepting, closes idle connections and waits until in-flight responses are
// written or ctx is done (then it returns ctx's error and Close cuts the rest).
func (s *Server) Shutdown(ctx context.Context) error {
	return s.fs.ShutdownWithContext(ctx)
}

// Close closes every connection still open (fasthttp's shutdown only waits for them).
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
	return nil
}

// ServeConn serves one connection (tests use it with in-memory connections).
func (s *Server) ServeConn(c net.Conn) error { return s.fs.ServeConn(c) }

// badRequest answers a malformed request as net/http did: status text as a plain-text body,
// and the connection closed.
func badRequest(rc *fasthttp.RequestCtx, code int) {
	rc.Response.Reset()
	rc.SetStatusCode(code)
	rc.Response.Header.SetContentType("text/plain; charset=utf-8")
	rc.SetConnectionClose()
	rc.Response.SetBodyString(fmt.Sprintf("%d %s", code, http.StatusText(code)))
}

// errorHandler answers what fasthttp could not read as net/http did: 431 for a request line
// and header over MaxHeaderBytes, 400 for anything unparsable, and nothing for a read timeout
// (a slowloris client, or one that never sent a request): the connection is closed without
// an answer, where fasthttp would write a 408.
func errorHandler(rc *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		badRequest(rc, http.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &ne) && ne.Timeout():
		_ = rc.Conn().Close() // fasthttp's write of the (empty) answer then fails, unseen
	default:
		badRequest(rc, http.StatusBadRequest)
	}
}

// fasthttpLogger routes fasthttp's log lines to slog.
type fasthttpLogger struct{ l *slog.Logger }

// Printf logs one fasthttp line: at Debug the per-connection "error when serving connection"
// lines (a malformed request, already answered 400; a late body failure, already logged by
// the handler), which any client can cause at will; at Warn the rest (accept errors,
// connection limits).
func (f fasthttpLogger) Printf(format string, args ...any) {
	level := slog.LevelWarn
	if strings.HasPrefix(format, "error when serving connection") {
		level = slog.LevelDebug
	}
	f.l.Log(context.Background(), level, "fasthttp: "+fmt.Sprintf(format, args...))
}
