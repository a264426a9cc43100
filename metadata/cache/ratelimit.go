package cache

import (
	"sync/atomic"
	"time"
)

// logLimiter lets at most one log line through per interval and counts the ones it held back.
type logLimiter struct {
	every   time.Duration
	next    atomic.Int64 // unix nanos before which lines are dropped
	dropped atomic.Int64
}

// allow reports whether a line may be logged at now, and how many were dropped since the last
// one that was.
func (l *logLimiter) allow(now time.Time) (ok bool, dropped int64) {
	n := l.next.Load()
	t := now.UnixNano()
	if t < n || !l.next.CompareAndSwap(n, t+int64(l.every)) {
		l.dropped.Add(1)
		return false, 0
	}
	return true, l.dropped.Swap(0)
}
