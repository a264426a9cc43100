package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// coalescer runs at most one lower lookup per key at a time in this process. The shared lookup
// runs detached from every caller's cancellation, bounded by its own timeout; each caller still
// returns as soon as its own context is done.
type coalescer struct {
	group     singleflight.Group
	timeout   time.Duration
	coalesced prometheus.Counter
}

// do returns fn's answer for key, sharing one call of fn among concurrent callers.
func (c *coalescer) do(ctx context.Context, key metadata.Key, fn func(ctx context.Context) (Entry, error)) (Entry, error) {
	leader := false
	ch := c.group.DoChan(key.Table+"\x00"+key.Name, func() (any, error) {
		leader = true
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		e, err := fn(sctx)
		if err != nil && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, metadata.ErrUnavailable) {
			err = fmt.Errorf("metadata cache: lookup of %s %q exceeded %s: %w: %w", key.Table, key.Name, c.timeout, metadata.ErrUnavailable, err)
		}
		return e, err
	})
	select {
	case r := <-ch:
		if !leader {
			c.coalesced.Inc()
		}
		if r.Err != nil {
			return Entry{}, r.Err
		}
		return r.Val.(Entry), nil
	case <-ctx.Done():
		return Entry{}, fmt.Errorf("metadata cache: waiting for lookup of %s %q: %w: %w", key.Table, key.Name, metadata.ErrUnavailable, ctx.Err())
	}
}
