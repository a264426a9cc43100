package httpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/ezdfsd/ezdfsd/storage"
)

// bodyStream is a GET response body, handed to fasthttp with SetBodyStream once every header
// is set. fasthttp calls WriteTo with its connection writer, then CloseWithError with the
// outcome (also when it never wrote the body, for instance because the connection broke
// before), which records the bytes and runs the exchange's metrics and access log once.
//
// A failed or short body returns an error from WriteTo: fasthttp then closes the connection,
// so the client never sees a complete-looking response of the wrong length.
type bodyStream struct {
	x      *exchange
	obj    storage.Object
	length int64     // Content-Length
	first  io.Reader // the first (or only) range, requested before the headers were set
	multi  *multipartBody

	written int64
	failed  bool // WriteTo met an error and logged it
	closed  bool
	onClose func()
	guard   *stallGuard // for storage reads that are not sendfiled, with Config.ReadStallTimeout
}

// OnClose makes the stream run f once it is closed, after the exchange is finished (the
// concurrency limit gives its slot back then: see ops.LimitConcurrency).
func (s *bodyStream) OnClose(f func()) { s.onClose = f }

// multipartBody is what a multipart/byteranges body needs besides the object.
type multipartBody struct {
	ranges   []byteRange
	ctype    string
	size     int64
	boundary string
}

// Read is never used by fasthttp (it prefers WriteTo); it exists because SetBodyStream takes an
// io.Reader, and refuses.
func (s *bodyStream) Read([]byte) (int, error) {
	return 0, errors.New("httpserve: the body stream is written with WriteTo")
}

// WriteTo writes the body to w, fasthttp's connection writer. A mount-point range (an
// *io.LimitedReader over an *os.File) goes to w's ReadFrom untouched, which hands it down to
// the bufio.Writer and the TCP connection's ReadFrom: sendfile. Other bodies (S3) are copied
// with a pooled 256 KiB buffer and the copy stops at the first failed write. Bodies longer than
// corkMinBody are written with the socket corked (TCP_CORK, nginx's tcp_nopush), so the headers
// leave in the same segment as the start of the body.
func (s *bodyStream) WriteTo(w io.Writer) (n int64, err error) {
	x := s.x
	defer func() {
		if p := recover(); p != nil {
			x.h.log.LogAttrs(x.ctx, slog.LevelError, "panic serving request",
				slog.String("request_id", x.id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			s.failed = true
			err = fmt.Errorf("httpserve: panic writing body: %v", p)
		}
		s.written += n
	}()
	if s.length > corkMinBody {
		if rc := rawConn(x.rc.Conn()); rc != nil && cork(rc, true) {
			defer cork(rc, false)
		}
	}
	if s.multi != nil {
		return s.writeMultipart(w)
	}
	return s.copyBody(w, s.first, s.length)
}

// writeMultipart writes the framing and every part; ranges after the first are requested from
// the backend as they come.
func (s *bodyStream) writeMultipart(w io.Writer) (int64, error) {
	x := s.x
	m := s.multi
	cw := &countingWriter{w: w}
	mw := multipart.NewWriter(cw)
	if err := mw.SetBoundary(m.boundary); err != nil {
		return 0, s.fail("writing multipart header", err)
	}
	var body int64
	for i, br := range m.ranges {
		rd := s.first
		if i > 0 {
			var err error
			if rd, err = s.obj.Range(x.storageCtx(), br.start, br.length); err != nil {
				x.h.metrics.event(eventStorageError)
				return cw.n + body, s.fail("reading storage object after headers", err)
			}
		}
		if _, err := mw.CreatePart(partHeader(br, m.ctype, m.size)); err != nil {
			return cw.n + body, s.writeFailed("writing multipart header", cw.n+body, err)
		}
		n, err := s.copyBody(w, rd, br.length)
		body += n
		if err != nil {
			return cw.n + body, err
		}
	}
	if err := mw.Close(); err != nil {
		return cw.n + body, s.writeFailed("writing multipart trailer", cw.n+body, err)
	}
	return cw.n + body, nil
}

// copyBody copies exactly n bytes of rd to w. A short or failed copy is logged and counted
// (client_gone when the client hung up, short_file or storage_error otherwise) and returned
// as an error, so fasthttp drops the connection.
func (s *bodyStream) copyBody(w io.Writer, rd io.Reader, n int64) (int64, error) {
	if cancel := s.x.cancelRange; cancel != nil && !isFileRange(rd) {
		if s.guard == nil {
			s.guard = newStallGuard(s.x.h.cfg.ReadStallTimeout, cancel)
		}
		s.guard.r = rd
		rd = s.guard
	}
	written, err := copyTo(w, rd)
	if err == nil && written == n {
		return written, nil
	}
	x := s.x
	if clientGone(err) || (err != nil && x.ctx.Err() != nil) {
		return written, s.writeFailed("copying body", written, err)
	}
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		x.h.metrics.event(eventShortFile)
		err = fmt.Errorf("body ended after %d of %d bytes: %w", written, n, io.ErrUnexpectedEOF)
	} else {
		x.h.metrics.event(eventStorageError)
	}
	return written, s.fail("copying body", err)
}

// writeFailed handles a failed write to the client: a client that hung up is a debug line and
// client_gone, anything else an aborted response.
func (s *bodyStream) writeFailed(what string, written int64, err error) error {
	x := s.x
	if clientGone(err) || x.ctx.Err() != nil {
		s.failed = true
		x.h.metrics.event(eventClientGone)
		x.h.log.LogAttrs(x.ctx, slog.LevelDebug, "client gone during body",
			slog.String("request_id", x.id), slog.String("name", x.name), slog.Int64("written", written))
		return err
	}
	return s.fail(what, err)
}

// fail logs a failure after the status line was sent; the caller returns the error to fasthttp,
// which closes the connection.
func (s *bodyStream) fail(what string, err error) error {
	x := s.x
	s.failed = true
	x.h.log.LogAttrs(x.ctx, slog.LevelError, "aborting response: "+what,
		slog.String("request_id", x.id), slog.String("name", x.name), slog.Any("error", err))
	return fmt.Errorf("%s: %w", what, err)
}

// CloseWithError is called by fasthttp once the response was written (err is the write's
// outcome) or dropped. It closes the storage object (an S3 body stops downloading) and
// finishes the exchange: bytes, aborted, metrics and access log, exactly once.
func (s *bodyStream) CloseWithError(err error) error {
	if s.closed {
		return nil
	}
	s.closed = true
	x := s.x
	x.bytes += s.written
	if err != nil || s.failed || s.written != s.length {
		x.aborted = true
	}
	s.closeObject()
	x.endStorage()
	x.finish()
	if s.onClose != nil {
		s.onClose()
	}
	return nil
}

// closeObject releases the storage object.
func (s *bodyStream) closeObject() {
	if s.obj == nil {
		return
	}
	if err := s.obj.Close(); err != nil {
		s.x.logError("closing storage object", err)
	}
	s.obj = nil
}

// streamBufSize is the copy buffer for bodies that cannot use sendfile (S3): a generic copy
// moves 32 KiB at a time, i.e. 16 read/write pairs for a 500 KB image.
const streamBufSize = 256 << 10

var streamBufs = sync.Pool{New: func() any { b := make([]byte, streamBufSize); return &b }}

// copyTo copies rd to w. A mount-point reader (*io.LimitedReader over *os.File) goes to w's
// ReadFrom untouched, which sendfiles it. Any other body (an S3 response) is copied with a
// pooled 256 KiB buffer, so each system call moves up to 256 KiB; the copy stops at the first
// failed write.
func copyTo(w io.Writer, rd io.Reader) (int64, error) {
	if isFileRange(rd) {
		if rf, ok := w.(io.ReaderFrom); ok {
			return rf.ReadFrom(rd)
		}
	}
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	return io.CopyBuffer(writerOnly{w}, readerOnly{rd}, *bp)
}

// stallGuard cancels a storage read that brings nothing for d: before each Read a timer is
// armed that cancels the storage context (which aborts the S3 response body), and it is
// stopped when the Read returns. Writes to the client are not timed (a slow client is bounded
// by the listener's write timeout).
type stallGuard struct {
	r io.Reader
	d time.Duration
	t *time.Timer
}

// newStallGuard guards reads with d, cancelling with cancel.
func newStallGuard(d time.Duration, cancel context.CancelFunc) *stallGuard {
	t := time.AfterFunc(d, cancel)
	t.Stop()
	return &stallGuard{d: d, t: t}
}

func (g *stallGuard) Read(p []byte) (int, error) {
	g.t.Reset(g.d)
	n, err := g.r.Read(p)
	g.t.Stop()
	return n, err
}

// isFileRange reports whether rd is a mount-point range, an *io.LimitedReader over an *os.File,
// which sendfile can send.
func isFileRange(rd io.Reader) bool {
	lr, ok := rd.(*io.LimitedReader)
	if !ok {
		return false
	}
	_, ok = lr.R.(*os.File)
	return ok
}

// writerOnly hides the writer's ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }

// readerOnly hides the reader's WriteTo from io.CopyBuffer.
type readerOnly struct{ io.Reader }

// clientGone reports whether a body copy failed because the client closed its connection
// (browsers cancel image loads all the time): a write to the client socket, plain or through
// sendfile ("readfrom" on the TCP connection), failing with EPIPE or ECONNRESET. A reset of the
// S3 connection fails a "read" instead and stays a storage error.
func clientGone(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || (op.Op != "write" && op.Op != "readfrom") {
		return false
	}
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
