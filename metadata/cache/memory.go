package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Memory is the in-process tier: a size-bounded LRU of entries in front of another store
// (typically Memcached, or the SQL store). It implements metadata.Store and is safe for
// concurrent use.
//
// A hit costs about a microsecond and does not allocate (negative hits allocate the returned
// error). Misses for one key are coalesced into one lower lookup. Entries past their TTL stay
// in the LRU (until StaleIfError elapses or they are evicted) so they can be served when the
// store is unavailable.
type Memory struct {
	next     TimedStore
	cfg      Config
	lru      *lru.Cache[metadata.Key, Entry]
	flight   coalescer
	counts   tierCounters
	logger   *slog.Logger
	staleLog logLimiter
	now      func() time.Time
	// downUntil (Unix nanoseconds) is when the last store failure's ErrorBackoff ends.
	downUntil atomic.Int64
}

var _ metadata.Store = (*Memory)(nil)

// NewMemory wraps next with an in-process cache. Zero (and invalid, see Config.Validate) cfg
// fields take the defaults; use DefaultConfig for stale-if-error. Metrics are registered on reg
// (nil = none); a Memory and a Memcached on one registry share the lookup counters. logger may
// be nil.
func NewMemory(next metadata.Store, cfg Config, reg prometheus.Registerer, logger *slog.Logger) *Memory {
	return newMemory(next, cfg, reg, logger, time.Now)
}

func newMemory(next metadata.Store, cfg Config, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time) *Memory {
	cfg = cfg.withDefaults()
	logger = orDiscard(logger)
	cache, err := lru.New[metadata.Key, Entry](cfg.MaxEntries)
	if err != nil {
		panic(fmt.Sprintf("metadata cache: LRU of %d entries: %v", cfg.MaxEntries, err)) // unreachable: size > 0
	}
	lookups := mustRegister(reg, logger, newLookups())
	coalesced := mustRegister(reg, logger, newCoalesced())
	m := &Memory{
		next:     timed(next, now),
		cfg:      cfg,
		lru:      cache,
		flight:   coalescer{timeout: cfg.LookupTimeout, coalesced: coalesced},
		counts:   tierOf(lookups, "memory"),
		logger:   logger,
		staleLog: logLimiter{every: time.Second},
		now:      now,
	}
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ezdfsd_metadata_cache_entries",
		Help: "Entries held by the in-process metadata cache, fresh or kept for stale-if-error.",
	}, func() float64 { return float64(cache.Len()) })
	if reg != nil {
		if err := reg.Register(entries); err != nil {
			// A second Memory on the same registry: the gauge keeps reporting the first one.
			logger.Debug("metadata cache: entries gauge not registered", "err", err)
		}
	}
	return m
}

// Lookup returns the row for key from memory while it is fresh, else from the wrapped store.
// It returns an error wrapping metadata.ErrNotFound for a (cached) missing row, and one
// wrapping metadata.ErrUnavailable when the store cannot answer and no entry younger than
// StaleIfError is known.
func (m *Memory) Lookup(ctx context.Context, key metadata.Key) (metadata.File, error) {
	e, err := m.LookupTimed(ctx, key)
	if err != nil {
		return metadata.File{}, err
	}
	return toFile(key, e)
}

// LookupTimed is Lookup with the entry's FetchedAt, so Memory can itself be wrapped.
func (m *Memory) LookupTimed(ctx context.Context, key metadata.Key) (Entry, error) {
	if e, ok := m.lru.Get(key); ok && m.cfg.fresh(e, m.now()) {
		m.counts.hitOf(e)
		return e, nil
	}
	return m.fetch(ctx, key)
}

// fetch asks the lower tier (coalesced), caches the answer, and falls back to a stale entry
// when the lower tier is unavailable. Within ErrorBackoff of a failure, a usable stale entry is
// served without asking the lower tier at all.
func (m *Memory) fetch(ctx context.Context, key metadata.Key) (Entry, error) {
	if now := m.now(); now.UnixNano() < m.downUntil.Load() {
		if old, ok := m.usableStale(key, now); ok {
			m.serveStale(key, old, now, errors.New("store failed less than the error back-off ago"))
			return old, nil
		}
	}
	e, err := m.flight.do(ctx, key, func(ctx context.Context) (Entry, error) {
		// A caller that missed just before the previous shared lookup stored its answer
		// must not start a second one.
		if e, ok := m.lru.Peek(key); ok && m.cfg.fresh(e, m.now()) {
			return e, nil
		}
		e, err := m.next.LookupTimed(ctx, key)
		if err != nil {
			return Entry{}, err
		}
		m.lru.Add(key, e)
		return e, nil
	})
	if err == nil {
		m.downUntil.Store(0)
		m.counts.miss.Inc()
		return e, nil
	}
	if errors.Is(err, metadata.ErrUnavailable) && !errors.Is(err, context.Canceled) {
		now := m.now()
		m.downUntil.Store(now.Add(m.cfg.ErrorBackoff).UnixNano())
		if old, ok := m.usableStale(key, now); ok {
			m.serveStale(key, old, now, err)
			return old, nil
		}
	}
	m.counts.err.Inc()
	return Entry{}, fmt.Errorf("metadata cache: %s %q: %w", key.Table, key.Name, err)
}

// usableStale returns the cached entry for key if stale-if-error may still serve it at now.
func (m *Memory) usableStale(key metadata.Key, now time.Time) (Entry, bool) {
	if m.cfg.StaleIfError <= 0 {
		return Entry{}, false
	}
	old, ok := m.lru.Peek(key)
	if !ok || now.Sub(old.FetchedAt) >= m.cfg.StaleIfError {
		return Entry{}, false
	}
	return old, true
}

// serveStale counts and (rate-limited) logs a stale answer.
func (m *Memory) serveStale(key metadata.Key, old Entry, now time.Time, cause error) {
	m.counts.stale.Inc()
	if ok, dropped := m.staleLog.allow(now); ok {
		m.logger.Warn("metadata store unavailable, serving stale metadata",
			"table", key.Table, "name", key.Name, "found", old.Found,
			"age", now.Sub(old.FetchedAt).Round(time.Millisecond).String(),
			"err", cause, "suppressed", dropped)
	}
}
