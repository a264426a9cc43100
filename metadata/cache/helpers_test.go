package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
)

// fakeStore is a counting in-memory metadata.Store whose answers, availability and speed the
// test controls.
type fakeStore struct {
	mu    sync.Mutex
	rows  map[metadata.Key]metadata.File
	calls atomic.Int64
	down  atomic.Bool
	// gate, when set, makes Lookup wait until it is closed (or ctx is done).
	gate chan struct{}
	// ctxErrs records ctx.Err() seen after the gate, one per call.
	ctxErrs []error
}

func newFakeStore() *fakeStore {
	return &fakeStore{rows: map[metadata.Key]metadata.File{}}
}

func (s *fakeStore) put(table string, f metadata.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[metadata.Key{Table: table, Name: f.Name}] = f
}

func (s *fakeStore) del(table, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rows, metadata.Key{Table: table, Name: name})
}

func (s *fakeStore) Lookup(ctx context.Context, key metadata.Key) (metadata.File, error) {
	s.calls.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctxErrs = append(s.ctxErrs, ctx.Err())
	if err := ctx.Err(); err != nil {
		return metadata.File{}, fmt.Errorf("fake store: %w", err)
	}
	if s.down.Load() {
		return metadata.File{}, fmt.Errorf("fake store: connection refused: %w", metadata.ErrUnavailable)
	}
	f, ok := s.rows[key]
	if !ok {
		return metadata.File{}, fmt.Errorf("fake store: %q: %w", key.Name, metadata.ErrNotFound)
	}
	return f, nil
}

// fakeClock is a settable clock for the cache's now field.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testFile(name string, mtime int64) metadata.File {
	return metadata.File{Name: name, Datatype: "image/jpeg", Scope: "image", Size: 1234, MTime: mtime}
}

func key(name string) metadata.Key { return metadata.Key{Table: "ezdfsfile", Name: name} }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
