package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ezdfsd/ezdfsd/storage"
)

// object is one cluster file in the bucket; it holds at most one open response body.
type object struct {
	s    *S3
	key  string
	body io.ReadCloser
	// cancel releases the context of the open body's GetObject (nil when none is open).
	cancel context.CancelFunc
	closed bool
}

// Size is -1: knowing it would cost a HeadObject; the metadata row has it.
func (o *object) Size() int64 { return -1 }

// Range issues GetObject with "Range: bytes=off-(off+n-1)" and returns the streamed body. A
// missing key gives storage.ErrNotExist; an answer of another length than n (object shorter
// than the row says, or a range past its end) gives storage.ErrUnavailable, as do all remote
// failures. The reader returns io.ErrUnexpectedEOF if the body ends before n bytes. n == 0
// makes no call. The previous Range's body is closed.
func (o *object) Range(ctx context.Context, off, n int64) (io.Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: range %q: %w", o.key, err)
	}
	if o.closed {
		return nil, fmt.Errorf("s3: range %q: %w", o.key, os.ErrClosed)
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("s3: range %q: invalid range off=%d n=%d", o.key, off, n)
	}
	o.closeBody()
	if n == 0 {
		return bytes.NewReader(nil), nil
	}
	s := o.s
	start := time.Now()
	// FirstByteTimeout bounds the whole wait for response headers, retries included: the
	// transport's per-attempt header timeout alone would let MaxAttempts slow attempts add up.
	// The timer only covers the headers; once they are in, the body streams under ctx.
	getCtx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(s.cfg.FirstByteTimeout, cancel)
	out, err := s.getObject(getCtx, o.key, "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
	inTime := timer.Stop()
	if err == nil && !inTime {
		out.body.Close() // the headers came, but the deadline cancelled the body's context
		err = errors.New("response headers arrived at the deadline")
	}
	if err != nil {
		cancel()
		if !inTime && ctx.Err() == nil {
			err = fmt.Errorf("no response headers within %v over all attempts: %w (%v)", s.cfg.FirstByteTimeout, context.DeadlineExceeded, err)
		}
		return nil, s.fail(ctx, opGet, o.key, err)
	}
	if err := checkLength(out, off, n); err != nil {
		out.body.Close()
		cancel()
		s.metrics.request(opGet, resultError)
		s.metrics.errors.WithLabelValues(kindShort).Inc()
		s.log.Warn("s3: object shorter than requested", "bucket", s.cfg.Bucket, "key", o.key, "err", err)
		return nil, fmt.Errorf("s3: get %q: %w: %w", o.key, storage.ErrUnavailable, err)
	}
	s.metrics.firstByte.Observe(time.Since(start).Seconds())
	s.metrics.request(opGet, resultOK)
	o.body, o.cancel = out.body, cancel
	return &bodyReader{o: o, ctx: ctx, body: out.body, left: n, want: n}, nil
}

// checkLength verifies that the answer carries exactly the n bytes from off.
func checkLength(out getAnswer, off, n int64) error {
	if out.contentLength != nil && *out.contentLength != n {
		return fmt.Errorf("asked for %d bytes at %d, answer has %d (Content-Range %q)", n, off, *out.contentLength, out.contentRange)
	}
	cr := out.contentRange
	if cr == "" {
		if off != 0 {
			return fmt.Errorf("asked for a range at %d, the answer has no Content-Range (Range ignored?)", off)
		}
		return nil
	}
	// "bytes first-last/complete"
	spec, ok := strings.CutPrefix(cr, "bytes ")
	first, rest, ok2 := strings.Cut(spec, "-")
	last, _, ok3 := strings.Cut(rest, "/")
	a, err1 := strconv.ParseInt(first, 10, 64)
	b, err2 := strconv.ParseInt(last, 10, 64)
	if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil {
		return fmt.Errorf("unparsable Content-Range %q", cr)
	}
	if a != off || b != off+n-1 {
		return fmt.Errorf("asked for bytes %d-%d, got Content-Range %q", off, off+n-1, cr)
	}
	return nil
}

// Close closes the last response body. Later calls return nil.
func (o *object) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	o.closeBody()
	return nil
}

func (o *object) closeBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	if o.cancel != nil {
		o.cancel()
		o.cancel = nil
	}
}

// bodyReader streams a GetObject body, stops at the requested length and turns an early end
// into io.ErrUnexpectedEOF.
type bodyReader struct {
	o    *object
	ctx  context.Context
	body io.Reader
	left int64
	want int64
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.body.Read(p)
	r.left -= int64(n)
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF && r.left == 0:
		return n, io.EOF
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		r.o.s.metrics.errors.WithLabelValues(kindShort).Inc()
		return n, fmt.Errorf("s3: body of %q ended %d bytes before the requested %d: %w", r.o.key, r.left, r.want, io.ErrUnexpectedEOF)
	case r.ctx.Err() != nil:
		return n, fmt.Errorf("s3: read %q: %w", r.o.key, r.ctx.Err())
	default:
		r.o.s.metrics.errors.WithLabelValues(classify(r.ctx, opGet, err).kind).Inc()
		return n, fmt.Errorf("s3: read %q: %w: %w", r.o.key, storage.ErrUnavailable, err)
	}
}
