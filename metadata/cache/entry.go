package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
)

// Defaults applied by NewMemory and NewMemcached to zero Config fields (except StaleIfError,
// where zero means off; DefaultConfig sets it).
const (
	DefaultMaxEntries    = 100000
	DefaultPositiveTTL   = 5 * time.Second
	DefaultNegativeTTL   = 2 * time.Second
	DefaultStaleIfError  = 5 * time.Minute
	DefaultLookupTimeout = 3 * time.Second
	DefaultErrorBackoff  = time.Second
)

// Config sets the freshness rules shared by all tiers.
type Config struct {
	// MaxEntries bounds the in-process LRU (entries, not bytes). Zero means DefaultMaxEntries.
	// Unused by Memcached.
	MaxEntries int
	// PositiveTTL is how long after FetchedAt a found row may be served. Zero means
	// DefaultPositiveTTL.
	PositiveTTL time.Duration
	// NegativeTTL is how long after FetchedAt "no such row" may be served. Zero means
	// DefaultNegativeTTL.
	NegativeTTL time.Duration
	// StaleIfError is how long after FetchedAt Memory may serve an entry when the store is
	// unavailable. Zero (or negative) turns stale-if-error off; DefaultConfig sets
	// DefaultStaleIfError. Unused by Memcached.
	StaleIfError time.Duration
	// LookupTimeout bounds the coalesced lower lookup, which does not inherit the first
	// caller's cancellation. Zero means DefaultLookupTimeout.
	LookupTimeout time.Duration
	// ErrorBackoff is how long after the store failed (ErrUnavailable) Memory serves usable
	// stale entries at once, without asking the store again, so a hung database costs one
	// timeout per ErrorBackoff instead of one per request. Names with no usable stale entry
	// are still looked up. Zero means DefaultErrorBackoff. Unused by Memcached.
	ErrorBackoff time.Duration
}

// DefaultConfig returns the recommended settings, stale-if-error included.
func DefaultConfig() Config {
	return Config{
		MaxEntries:    DefaultMaxEntries,
		PositiveTTL:   DefaultPositiveTTL,
		NegativeTTL:   DefaultNegativeTTL,
		StaleIfError:  DefaultStaleIfError,
		LookupTimeout: DefaultLookupTimeout,
		ErrorBackoff:  DefaultErrorBackoff,
	}
}

// Validate reports settings that cannot be meant: negative sizes or durations. The
// constructors do not fail on them; they replace them with the defaults, like zero values
// (StaleIfError: off).
func (c Config) Validate() error {
	switch {
	case c.MaxEntries < 0:
		return fmt.Errorf("metadata cache: MaxEntries %d < 0", c.MaxEntries)
	case c.PositiveTTL < 0:
		return fmt.Errorf("metadata cache: PositiveTTL %s < 0", c.PositiveTTL)
	case c.NegativeTTL < 0:
		return fmt.Errorf("metadata cache: NegativeTTL %s < 0", c.NegativeTTL)
	case c.StaleIfError < 0:
		return fmt.Errorf("metadata cache: StaleIfError %s < 0 (use 0 to turn it off)", c.StaleIfError)
	case c.LookupTimeout < 0:
		return fmt.Errorf("metadata cache: LookupTimeout %s < 0", c.LookupTimeout)
	case c.ErrorBackoff < 0:
		return fmt.Errorf("metadata cache: ErrorBackoff %s < 0", c.ErrorBackoff)
	}
	return nil
}

// withDefaults replaces zero and negative fields by the defaults (StaleIfError by 0 = off).
func (c Config) withDefaults() Config {
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.PositiveTTL <= 0 {
		c.PositiveTTL = DefaultPositiveTTL
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = DefaultNegativeTTL
	}
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = DefaultLookupTimeout
	}
	if c.ErrorBackoff <= 0 {
		c.ErrorBackoff = DefaultErrorBackoff
	}
	if c.StaleIfError < 0 {
		c.StaleIfError = 0
	}
	return c
}

// ttl returns the freshness window for e.
func (c Config) ttl(e Entry) time.Duration {
	if e.Found {
		return c.PositiveTTL
	}
	return c.NegativeTTL
}

// fresh reports whether e may be served at now without asking the store.
func (c Config) fresh(e Entry, now time.Time) bool {
	return now.Sub(e.FetchedAt) < c.ttl(e)
}

// Entry is a lookup result together with the time it was read from the underlying store.
type Entry struct {
	// File is the row; meaningful only when Found.
	File metadata.File
	// Found is false when the store had no row (metadata.ErrNotFound).
	Found bool
	// FetchedAt is when the row (or its absence) was read from the underlying store. Caches
	// keep it unchanged when they copy the entry, so freshness is measured from the database.
	FetchedAt time.Time
}

// TimedStore is a metadata store that says how old its answers are. Memory uses it, when the
// store it wraps implements it, to keep the staleness bound across tiers.
type TimedStore interface {
	// LookupTimed returns the entry for key. A missing row is not an error: it returns
	// Found=false with a nil error. Failures wrap metadata.ErrUnavailable.
	LookupTimed(ctx context.Context, key metadata.Key) (Entry, error)
}

// Timed returns s as a TimedStore: s itself if it implements TimedStore, otherwise an adapter
// that stamps each answer with the time the lookup started (conservative: the row is at least
// that fresh).
func Timed(s metadata.Store) TimedStore {
	return timed(s, time.Now)
}

func timed(s metadata.Store, now func() time.Time) TimedStore {
	if ts, ok := s.(TimedStore); ok {
		return ts
	}
	return &stamped{next: s, now: now}
}

// stamped adapts a plain metadata.Store to TimedStore.
type stamped struct {
	next metadata.Store
	now  func() time.Time
}

func (s *stamped) LookupTimed(ctx context.Context, key metadata.Key) (Entry, error) {
	start := s.now()
	f, err := s.next.Lookup(ctx, key)
	switch {
	case err == nil:
		return Entry{File: f, Found: true, FetchedAt: start}, nil
	case errors.Is(err, metadata.ErrNotFound):
		return Entry{FetchedAt: start}, nil
	default:
		return Entry{}, err
	}
}

// notFoundError is returned by Lookup for a cached or fetched "no such row". It is cheap to
// build on the negative-hit path and matches metadata.ErrNotFound with errors.Is.
type notFoundError struct {
	key metadata.Key
}

func (e *notFoundError) Error() string {
	return fmt.Sprintf("metadata cache: %s %q: %v", e.key.Table, e.key.Name, metadata.ErrNotFound)
}

func (e *notFoundError) Unwrap() error { return metadata.ErrNotFound }

// toFile turns an entry into metadata.Store's answer.
func toFile(key metadata.Key, e Entry) (metadata.File, error) {
	if !e.Found {
		return metadata.File{}, &notFoundError{key: key}
	}
	return e.File, nil
}
