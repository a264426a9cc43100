package ops

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultLogRepeatInterval is how often NewLogger lets a repeated warning or error of one kind
// through.
const DefaultLogRepeatInterval = 10 * time.Second

// maxLogKinds bounds the kinds a rate-limiting handler tracks. When the table is full and no
// entry has gone quiet, a line of a new kind is written unlimited rather than dropped.
const maxLogKinds = 1024

// SuppressedKey is the attribute a rate-limited line carries: how many lines of its kind were
// held back since the previous line of that kind was written.
const SuppressedKey = "suppressed"

// NewRateLimitHandler wraps next so that warnings and errors repeating one kind are written at
// most once per every: the first line of a kind is written in full, later ones within every of
// the last written one are counted and dropped, and the next line written for that kind
// carries the count as the attribute "suppressed" (added to, not repeated, when the caller already
// set one from a limiter of its own). When no line of the kind comes after the interval (the
// outage is over), the last line dropped is written when the interval ends, carrying the count
// of the others, so a burst's size always reaches the log. Records below slog.LevelWarn (debug
// lines, the access log) always pass.
//
// The kind is the level, the message and the class of the error attribute ("error" or "err"),
// not the error text: two "metadata lookup failed" lines for different names, or with
// different addresses in the error text, are one kind, while a refused connection and a
// timeout are two. The class of an error value is the type of every leaf of its wrap tree
// (with its text for a syscall.Errno, e.g. "connection refused"); a string attribute has no class.
//
// now is the clock (nil: time.Now); tests pass a fake one. Handlers derived with WithAttrs
// and WithGroup share the counts.
func NewRateLimitHandler(next slog.Handler, every time.Duration, now func() time.Time) slog.Handler {
	return newRateLimitHandler(next, every, now, func(d time.Duration, f func()) { time.AfterFunc(d, f) })
}

// newRateLimitHandler is NewRateLimitHandler with the timer that runs the end-of-interval
// writes: after(d, f) must call f once, d from now; tests pass one they run by hand.
func newRateLimitHandler(next slog.Handler, every time.Duration, now func() time.Time, after func(time.Duration, func())) slog.Handler {
	if now == nil {
		now = time.Now
	}
	return &rateLimitHandler{next: next, state: &rateState{every: every, now: now, after: after, kinds: make(map[string]*kindState)}}
}

type rateLimitHandler struct {
	next  slog.Handler
	state *rateState
}

type rateState struct {
	every time.Duration
	now   func() time.Time
	after func(time.Duration, func()) // runs a kind's end-of-interval write

	mu    sync.Mutex
	kinds map[string]*kindState
}

type kindState struct {
	last       time.Time // when a line of this kind was last written
	suppressed int64     // lines dropped since then
	held       *heldLine // the latest of them, written at the interval's end if nothing else is
	interval   uint64    // counts the intervals, so that a write scheduled for one ends no other
}

// heldLine is a dropped line kept for the end of its interval, with the handler to write it.
type heldLine struct {
	r    slog.Record
	next slog.Handler
}

// Enabled implements slog.Handler.
func (h *rateLimitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler: it writes r, with the suppressed count of its kind, or
// counts and drops it.
func (h *rateLimitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || h.state.every <= 0 {
		return h.next.Handle(ctx, r)
	}
	own := ownSuppressed(r)
	write, suppressed := h.state.allow(logKind(r), 1+own, r, h.next)
	if !write {
		return nil
	}
	if suppressed > 0 {
		r = withSuppressed(r, own+suppressed)
	}
	return h.next.Handle(ctx, r)
}

// ownSuppressed is the "suppressed" count a record already carries from a limiter of its
// caller's own (the metadata cache limits some warnings itself), or 0.
func ownSuppressed(r slog.Record) int64 {
	var n int64
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == SuppressedKey {
			if v := a.Value.Resolve(); v.Kind() == slog.KindInt64 {
				n = max(v.Int64(), 0)
			}
			return false
		}
		return true
	})
	return n
}

// withSuppressed returns r with one "suppressed" attribute set to n, replacing any it had,
// so a JSON line never carries the key twice.
func withSuppressed(r slog.Record, n int64) slog.Record {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != SuppressedKey {
			out.AddAttrs(a)
		}
		return true
	})
	out.AddAttrs(slog.Int64(SuppressedKey, n))
	return out
}

// WithAttrs implements slog.Handler.
func (h *rateLimitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &rateLimitHandler{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup implements slog.Handler.
func (h *rateLimitHandler) WithGroup(name string) slog.Handler {
	return &rateLimitHandler{next: h.next.WithGroup(name), state: h.state}
}

// allow reports whether a line of kind may be written now and how many lines of its kind were
// dropped since the last one written; a dropped line counts as weight (itself plus the lines it
// already stood for), and is kept (r, to be written with next) for the end of the interval.
func (s *rateState) allow(kind string, weight int64, r slog.Record, next slog.Handler) (bool, int64) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kinds[kind]
	if !ok {
		if len(s.kinds) >= maxLogKinds && !s.pruneLocked(now) {
			return true, 0 // table full of live kinds: never lose a new kind's first line
		}
		s.kinds[kind] = &kindState{last: now}
		return true, 0
	}
	if now.Sub(k.last) < s.every {
		k.suppressed += weight
		if k.held == nil { // the interval's first line dropped: schedule its end
			k.held = &heldLine{}
			interval := k.interval
			s.after(s.every-now.Sub(k.last), func() { s.writeHeld(kind, interval) })
		}
		k.held.r, k.held.next = r.Clone(), next
		return false, 0
	}
	n := k.suppressed
	k.last, k.suppressed, k.held = now, 0, nil
	k.interval++
	return true, n
}

// WriteHeldLines writes now, for every kind of line that logger's rate limit (NewLogger,
// NewRateLimitHandler) is holding back, the last line held with the count of the others, as
// the end of their intervals would; a program calls it before it exits. Other loggers are left
// alone.
func WriteHeldLines(logger *slog.Logger) {
	h, ok := logger.Handler().(*rateLimitHandler)
	if !ok {
		return
	}
	s := h.state
	s.mu.Lock()
	type pending struct {
		kind     string
		interval uint64
	}
	var held []pending
	for kind, k := range s.kinds {
		if k.held != nil {
			held = append(held, pending{kind, k.interval})
		}
	}
	s.mu.Unlock()
	for _, p := range held {
		s.writeHeld(p.kind, p.interval)
	}
}

// writeHeld ends kind's interval number interval: if lines were dropped in it and none has been
// written since, the last one dropped is written now with the count of the others (and those
// it stood for), and a new interval starts.
func (s *rateState) writeHeld(kind string, interval uint64) {
	s.mu.Lock()
	k, ok := s.kinds[kind]
	if !ok || k.held == nil || k.interval != interval {
		s.mu.Unlock()
		return
	}
	held, n := k.held, k.suppressed-1 // the held line's own count is in suppressed, less itself
	k.last, k.suppressed, k.held = s.now(), 0, nil
	k.interval++
	s.mu.Unlock()
	r := held.r
	if n > 0 {
		r = withSuppressed(r, n)
	}
	_ = held.next.Handle(context.Background(), r)
}

// pruneLocked forgets kinds that have been quiet for an interval with nothing held back, and
// reports whether that made room.
func (s *rateState) pruneLocked(now time.Time) bool {
	for kind, k := range s.kinds {
		if k.suppressed == 0 && now.Sub(k.last) >= s.every {
			delete(s.kinds, kind)
		}
	}
	return len(s.kinds) < maxLogKinds
}

// logKind is the rate-limiting key of r: level, message and error class.
func logKind(r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(0)
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "error" && a.Key != "err" {
			return true
		}
		if err, ok := a.Value.Resolve().Any().(error); ok && err != nil {
			b.WriteByte(0)
			errorClass(&b, err)
		}
		return false
	})
	return b.String()
}

// errorClass writes the types of the leaves of err's wrap tree, in order, to b.
func errorClass(b *strings.Builder, err error) {
	var walk func(error, int)
	walk = func(err error, depth int) {
		if err == nil {
			return
		}
		if depth > 32 { // a cyclic or absurdly deep chain: stop, the class is long enough
			b.WriteString("…")
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, depth+1)
			}
			return
		case interface{ Unwrap() error }:
			if inner := u.Unwrap(); inner != nil {
				walk(inner, depth+1)
				return
			}
		}
		b.WriteString(reflect.TypeOf(err).String())
		var errno syscall.Errno
		if errors.As(err, &errno) {
			b.WriteString("(" + errno.Error() + ")")
		}
		b.WriteByte(';')
	}
	walk(err, 0)
}
