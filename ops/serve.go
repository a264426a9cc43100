package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultShutdownTimeout is used by ListenAndServe when given a non-positive
// shutdown timeout. The systemd unit's TimeoutStopSec must stay above it.
const DefaultShutdownTimeout = 30 * time.Second

// Server is what ListenAndServe runs: *http.Server (the metrics listener) and
// *httpserve.Server (the file listener, on fasthttp) both are. Serve returns
// http.ErrServerClosed after Shutdown or Close; Close cuts the connections
// Shutdown gave up waiting for.
type Server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
	Close() error
}

// ListenAndServe serves srv on ln until ctx is cancelled, then shuts down
// gracefully: the listener is closed at once (new connections are refused),
// idle keep-alive connections are closed, and in-flight requests (downloads)
// get up to shutdownTimeout to finish before the remaining connections are
// closed forcibly. It returns nil after a clean stop, an error wrapping
// context.DeadlineExceeded when connections had to be cut, or the serve error
// if serving failed before ctx was done. ln is always closed on return.
//
// Request contexts are not tied to ctx, so cancelling ctx does not abort
// in-flight responses; do not set srv.BaseContext to ctx if that is wanted.
func ListenAndServe(ctx context.Context, srv Server, ln net.Listener, shutdownTimeout time.Duration, logger *slog.Logger) error {
	if shutdownTimeout <= 0 {
		shutdownTimeout = DefaultShutdownTimeout
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	addr := ln.Addr().String()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", addr)

	select {
	case err := <-serveErr:
		_ = ln.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil // someone else shut srv down
		}
		return fmt.Errorf("serving %s: %w", addr, err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "addr", addr, "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		_ = srv.Close()
		logger.Warn("shutdown timed out; closed remaining connections", "addr", addr, "err", shutdownErr)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", addr, err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("graceful shutdown of %s: %w", addr, shutdownErr)
	}
	logger.Info("stopped", "addr", addr)
	return nil
}
