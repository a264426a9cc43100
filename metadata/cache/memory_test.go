package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// step is one moment of a freshness scenario: advance the clock, optionally change the store,
// look "a.jpg" up, and check the answer and the number of store calls so far.
type step struct {
	advance   time.Duration
	change    func(s *fakeStore)
	wantMTime int64 // 0 = want ErrNotFound
	wantCalls int64
}

func TestMemoryFreshness(t *testing.T) {
	const name = "var/site/storage/images/a.jpg"
	setRow := func(mtime int64) func(*fakeStore) {
		return func(s *fakeStore) { s.put("ezdfsfile", testFile(name, mtime)) }
	}
	cfg := Config{PositiveTTL: 5 * time.Second, NegativeTTL: 2 * time.Second}
	tests := []struct {
		name  string
		steps []step
	}{
		{"hit within PositiveTTL, miss at PositiveTTL", []step{
			{change: setRow(100), wantMTime: 100, wantCalls: 1},
			{advance: 4999 * time.Millisecond, wantMTime: 100, wantCalls: 1},
			{advance: time.Millisecond, wantMTime: 100, wantCalls: 2},
			{advance: time.Second, wantMTime: 100, wantCalls: 2},
		}},
		{"changed row seen after PositiveTTL and not before", []step{
			{change: setRow(100), wantMTime: 100, wantCalls: 1},
			{advance: time.Second, change: setRow(200), wantMTime: 100, wantCalls: 1},
			{advance: 3999 * time.Millisecond, wantMTime: 100, wantCalls: 1},
			{advance: time.Millisecond, wantMTime: 200, wantCalls: 2},
		}},
		{"deleted row (negative mtime) is a cached positive entry until PositiveTTL", []step{
			{change: setRow(100), wantMTime: 100, wantCalls: 1},
			{change: setRow(-100), advance: 4 * time.Second, wantMTime: 100, wantCalls: 1},
			{advance: time.Second, wantMTime: -100, wantCalls: 2},
			{advance: time.Second, wantMTime: -100, wantCalls: 2},
		}},
		{"row removed from the store: not found after PositiveTTL", []step{
			{change: setRow(100), wantMTime: 100, wantCalls: 1},
			{change: func(s *fakeStore) { s.del("ezdfsfile", name) }, advance: 4 * time.Second, wantMTime: 100, wantCalls: 1},
			{advance: time.Second, wantMTime: 0, wantCalls: 2},
		}},
		{"negative entry within NegativeTTL, new row seen after it", []step{
			{wantMTime: 0, wantCalls: 1},
			{advance: time.Second, change: setRow(300), wantMTime: 0, wantCalls: 1},
			{advance: 999 * time.Millisecond, wantMTime: 0, wantCalls: 1},
			{advance: time.Millisecond, wantMTime: 300, wantCalls: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, clock := newFakeStore(), newFakeClock()
			m := newMemory(store, cfg, nil, nil, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				if s.change != nil {
					s.change(store)
				}
				f, err := m.Lookup(ctxT(t), key(name))
				switch {
				case s.wantMTime == 0:
					if !errors.Is(err, metadata.ErrNotFound) {
						t.Fatalf("step %d: got %+v, %v; want ErrNotFound", i, f, err)
					}
				case err != nil:
					t.Fatalf("step %d: %v", i, err)
				case f.MTime != s.wantMTime || f.Name != name:
					t.Fatalf("step %d: got %+v, want mtime %d", i, f, s.wantMTime)
				}
				if got := store.calls.Load(); got != s.wantCalls {
					t.Fatalf("step %d: store called %d times, want %d", i, got, s.wantCalls)
				}
			}
		})
	}
}

func TestMemoryKeysAreTableAndName(t *testing.T) {
	store := newFakeStore()
	store.put("ezdfsfile", testFile("a", 1))
	store.put("ezdfsfile_cache", testFile("a", 2))
	m := NewMemory(store, Config{}, nil, nil)
	for _, tc := range []struct {
		table string
		mtime int64
	}{{"ezdfsfile", 1}, {"ezdfsfile_cache", 2}, {"ezdfsfile", 1}} {
		f, err := m.Lookup(ctxT(t), metadata.Key{Table: tc.table, Name: "a"})
		if err != nil || f.MTime != tc.mtime {
			t.Fatalf("%s: got %+v, %v; want mtime %d", tc.table, f, err, tc.mtime)
		}
	}
	if got := store.calls.Load(); got != 2 {
		t.Fatalf("store called %d times, want 2", got)
	}
}

func TestMemoryLRUBound(t *testing.T) {
	store := newFakeStore()
	for _, n := range []string{"a", "b", "c"} {
		store.put("ezdfsfile", testFile(n, 1))
	}
	m := NewMemory(store, Config{MaxEntries: 2}, nil, nil)
	for _, n := range []string{"a", "b", "c", "a"} {
		if _, err := m.Lookup(ctxT(t), key(n)); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.lru.Len(); got != 2 {
		t.Fatalf("LRU holds %d entries, want 2", got)
	}
	if got := store.calls.Load(); got != 4 { // "a" was evicted by "c"
		t.Fatalf("store called %d times, want 4", got)
	}
}

// waitingCtx reports, once, the first time a caller's Done channel is asked for. In the
// Memory tier the only such call is the coalescer's wait for the shared lookup (the store
// sees the detached context of the shared call), so when every caller has reported, every
// caller has joined a lookup: none can be served by an entry stored after the store answers.
// Without coalescing the fake store's own wait on the caller's context reports instead.
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan<- struct{}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { c.waiting <- struct{}{} })
	return c.Context.Done()
}

func TestMemoryCoalescesConcurrentMisses(t *testing.T) {
	const n = 1000
	store := newFakeStore()
	store.put("ezdfsfile", testFile("hot.jpg", 42))
	gate := make(chan struct{})
	store.gate = gate
	reg := prometheus.NewRegistry()
	m := NewMemory(store, Config{}, reg, nil)

	var done sync.WaitGroup
	errs := make(chan error, n)
	waiting := make(chan struct{}, n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			ctx := &waitingCtx{Context: context.Background(), waiting: waiting}
			f, err := m.Lookup(ctx, key("hot.jpg"))
			if err == nil && f.MTime != 42 {
				err = errors.New("wrong file")
			}
			errs <- err
		}()
	}
	for i := range n {
		select {
		case <-waiting:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d callers waiting after 30 s", i, n)
		}
	}
	close(gate) // every caller is in a lookup; let the store answer
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := store.calls.Load(); got != 1 {
		t.Fatalf("store called %d times for %d concurrent lookups, want 1", got, n)
	}
	if got := testutil.ToFloat64(m.flight.coalesced); got != n-1 {
		t.Errorf("coalesced = %v, want %d (every caller but the one that asked the store)", got, n-1)
	}
	lookups := counterVec(t, reg, "ezdfsd_metadata_lookups_total")
	if hit, miss := lookups["memory/hit"], lookups["memory/miss"]; hit != 0 || miss != n {
		t.Errorf("memory hit %v, miss %v; want 0 and %d (all joined the one lookup)", hit, miss, n)
	}
}

func TestMemoryCallerCancelDoesNotCancelSharedLookup(t *testing.T) {
	store := newFakeStore()
	store.put("ezdfsfile", testFile("x", 7))
	gate := make(chan struct{})
	store.gate = gate
	m := NewMemory(store, Config{}, nil, nil)

	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := m.Lookup(firstCtx, key("x"))
		firstErr <- err
	}()
	for store.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		f, err := m.Lookup(context.Background(), key("x"))
		if err == nil && f.MTime != 7 {
			err = errors.New("wrong file")
		}
		second <- err
	}()
	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) || !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("cancelled caller got %v, want Canceled and ErrUnavailable", err)
	}
	close(gate)
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v", err)
	}
	if len(store.ctxErrs) != 1 || store.ctxErrs[0] != nil {
		t.Fatalf("store saw ctx errors %v, want one call with a live context", store.ctxErrs)
	}
	if got := store.calls.Load(); got != 1 {
		t.Fatalf("store called %d times, want 1", got)
	}
}

func TestMemoryStaleIfError(t *testing.T) {
	tests := []struct {
		name       string
		staleFor   time.Duration
		present    bool // row exists when first cached
		cache      bool // look it up once while the store is up
		age        time.Duration
		wantMTime  int64 // served stale file
		wantErr    error
		wantStale  float64
		wantErrors float64
	}{
		{name: "cached row served stale", staleFor: 5 * time.Minute, present: true, cache: true, age: time.Minute, wantMTime: 9, wantStale: 1},
		{name: "cached absence served stale", staleFor: 5 * time.Minute, cache: true, age: time.Minute, wantErr: metadata.ErrNotFound, wantStale: 1},
		{name: "past StaleIfError", staleFor: 5 * time.Minute, present: true, cache: true, age: 5 * time.Minute, wantErr: metadata.ErrUnavailable, wantErrors: 1},
		{name: "never cached", staleFor: 5 * time.Minute, present: true, age: time.Minute, wantErr: metadata.ErrUnavailable, wantErrors: 1},
		{name: "stale-if-error off", staleFor: 0, present: true, cache: true, age: time.Minute, wantErr: metadata.ErrUnavailable, wantErrors: 1},
		{name: "fresh entry needs no store", staleFor: 5 * time.Minute, present: true, cache: true, age: time.Second, wantMTime: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, clock := newFakeStore(), newFakeClock()
			if tt.present {
				store.put("ezdfsfile", testFile("s.jpg", 9))
			}
			m := newMemory(store, Config{StaleIfError: tt.staleFor}, prometheus.NewRegistry(), nil, clock.Now)
			if tt.cache {
				m.Lookup(ctxT(t), key("s.jpg"))
			}
			store.down.Store(true)
			clock.Advance(tt.age)
			f, err := m.Lookup(ctxT(t), key("s.jpg"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %+v, %v; want %v", f, err, tt.wantErr)
				}
			} else if err != nil || f.MTime != tt.wantMTime {
				t.Fatalf("got %+v, %v; want mtime %d", f, err, tt.wantMTime)
			}
			if got := testutil.ToFloat64(m.counts.stale); got != tt.wantStale {
				t.Errorf("stale count %v, want %v", got, tt.wantStale)
			}
			if got := testutil.ToFloat64(m.counts.err); got != tt.wantErrors {
				t.Errorf("error count %v, want %v", got, tt.wantErrors)
			}
		})
	}
}

// slowStore blocks until its context is done and reports the context error unwrapped, as a
// store that does not know about ErrUnavailable would.
type slowStore struct{}

func (slowStore) Lookup(ctx context.Context, _ metadata.Key) (metadata.File, error) {
	<-ctx.Done()
	return metadata.File{}, ctx.Err()
}

func TestMemoryLookupTimeoutIsUnavailable(t *testing.T) {
	m := NewMemory(slowStore{}, Config{LookupTimeout: 20 * time.Millisecond}, nil, nil)
	_, err := m.Lookup(context.Background(), key("slow"))
	if !errors.Is(err, metadata.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

func TestMemoryCallerDeadlineServesStale(t *testing.T) {
	store, clock := newFakeStore(), newFakeClock()
	store.put("ezdfsfile", testFile("d.jpg", 5))
	m := newMemory(store, DefaultConfig(), nil, nil, clock.Now)
	if _, err := m.Lookup(ctxT(t), key("d.jpg")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	gate := make(chan struct{})
	defer close(gate)
	store.mu.Lock()
	store.gate = gate
	store.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	f, err := m.Lookup(ctx, key("d.jpg"))
	if err != nil || f.MTime != 5 {
		t.Fatalf("got %+v, %v; want the stale row", f, err)
	}
}

func TestTimedAdapter(t *testing.T) {
	store, clock := newFakeStore(), newFakeClock()
	store.put("ezdfsfile", testFile("t", 3))
	ts := timed(store, clock.Now)
	tests := []struct {
		name      string
		wantFound bool
		wantErr   error
		down      bool
	}{
		{name: "t", wantFound: true},
		{name: "missing"},
		{name: "t", down: true, wantErr: metadata.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store.down.Store(tt.down)
			e, err := ts.LookupTimed(ctxT(t), key(tt.name))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && (e.Found != tt.wantFound || !e.FetchedAt.Equal(clock.Now())) {
				t.Fatalf("got %+v", e)
			}
		})
	}
	m := NewMemory(store, Config{}, nil, nil)
	if Timed(m) != TimedStore(m) {
		t.Fatal("Timed must return a TimedStore unchanged")
	}
}

func TestMetricsOnSeparateAndSharedRegistries(t *testing.T) {
	store := newFakeStore()
	store.put("ezdfsfile", testFile("m", 1))
	r1, r2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := NewMemory(store, Config{}, r1, nil)
	b := NewMemory(store, Config{}, r2, nil)
	c := NewMemory(store, Config{}, r2, nil) // same registry: shares counters
	for _, m := range []*Memory{a, a, b, c} {
		if _, err := m.Lookup(ctxT(t), key("m")); err != nil {
			t.Fatal(err)
		}
	}
	if got := counterVec(t, r1, "ezdfsd_metadata_lookups_total"); got["memory/miss"] != 1 || got["memory/hit"] != 1 {
		t.Errorf("registry 1: %v", got)
	}
	if got := counterVec(t, r2, "ezdfsd_metadata_lookups_total"); got["memory/miss"] != 2 {
		t.Errorf("registry 2: %v", got)
	}
	if n, err := testutil.GatherAndCount(r1, "ezdfsd_metadata_cache_entries"); err != nil || n != 1 {
		t.Errorf("entries gauge: %d, %v", n, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr bool
	}{
		{Config{}, false},
		{DefaultConfig(), false},
		{Config{PositiveTTL: -1}, true},
		{Config{StaleIfError: -1}, true},
		{Config{MaxEntries: -5}, true},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%+v: Validate() = %v, want error %v", tt.cfg, err, tt.wantErr)
		}
	}
	if d := (Config{}).withDefaults(); d.StaleIfError != 0 || d.PositiveTTL != DefaultPositiveTTL || d.MaxEntries != DefaultMaxEntries {
		t.Errorf("defaults: %+v", d)
	}
}

func TestLogLimiter(t *testing.T) {
	l := logLimiter{every: time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at          time.Duration
		want        bool
		wantDropped int64
	}{{0, true, 0}, {100 * time.Millisecond, false, 0}, {900 * time.Millisecond, false, 0}, {time.Second, true, 2}, {1500 * time.Millisecond, false, 0}}
	for i, s := range steps {
		ok, dropped := l.allow(t0.Add(s.at))
		if ok != s.want || dropped != s.wantDropped {
			t.Fatalf("step %d: allow = %v, %d; want %v, %d", i, ok, dropped, s.want, s.wantDropped)
		}
	}
}

// counterVec gathers name from reg as "tier/result" (or "op") → value.
func counterVec(t testing.TB, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			k := labels["op"]
			if k == "" {
				k = labels["tier"] + "/" + labels["result"]
			}
			out[k] = m.GetCounter().GetValue()
		}
	}
	return out
}

func BenchmarkMemoryHit(b *testing.B) {
	store := newFakeStore()
	store.put("ezdfsfile", testFile("var/ezdemo_site/storage/images/a/b/foo.jpg", 1))
	m := NewMemory(store, Config{PositiveTTL: time.Hour}, prometheus.NewRegistry(), nil)
	k := key("var/ezdemo_site/storage/images/a/b/foo.jpg")
	ctx := context.Background()
	if _, err := m.Lookup(ctx, k); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Lookup(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Lookup(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// TestMemoryErrorBackoff: after the store fails, usable stale entries are served without asking
// the store again until ErrorBackoff has passed, so a hung database costs one timeout per
// back-off instead of one per request (the fault suite saw hot names drop to 2 req/s at 0.5 s
// each during a black-holed MariaDB). Names without a stale entry still try the store.
func TestMemoryErrorBackoff(t *testing.T) {
	store, clock := newFakeStore(), newFakeClock()
	store.put("ezdfsfile", testFile("hot.jpg", 9))
	m := newMemory(store, Config{StaleIfError: time.Hour, ErrorBackoff: 2 * time.Second}, prometheus.NewRegistry(), nil, clock.Now)
	if _, err := m.Lookup(ctxT(t), key("hot.jpg")); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	clock.Advance(10 * time.Second) // past PositiveTTL
	before := store.calls.Load()
	if f, err := m.Lookup(ctxT(t), key("hot.jpg")); err != nil || f.MTime != 9 {
		t.Fatalf("first lookup while down: %+v, %v", f, err)
	}
	if got := store.calls.Load() - before; got != 1 {
		t.Fatalf("first lookup while down asked the store %d times, want 1", got)
	}
	for range 10 {
		clock.Advance(100 * time.Millisecond)
		if f, err := m.Lookup(ctxT(t), key("hot.jpg")); err != nil || f.MTime != 9 {
			t.Fatalf("lookup within the back-off: %+v, %v", f, err)
		}
	}
	if got := store.calls.Load() - before; got != 1 {
		t.Errorf("lookups within the back-off asked the store %d times in all, want 1", got)
	}
	if got := testutil.ToFloat64(m.counts.stale); got != 11 {
		t.Errorf("stale count %v, want 11", got)
	}
	// A name never cached still asks the store, and fails.
	if _, err := m.Lookup(ctxT(t), key("cold.jpg")); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("cold name: %v, want ErrUnavailable", err)
	}
	if got := store.calls.Load() - before; got != 2 {
		t.Errorf("cold name did not ask the store (%d calls)", got)
	}
	// Past the back-off the store is asked again, and once it is back the entry is fresh again.
	clock.Advance(2 * time.Second)
	store.down.Store(false)
	calls := store.calls.Load()
	if _, err := m.Lookup(ctxT(t), key("hot.jpg")); err != nil {
		t.Fatal(err)
	}
	if store.calls.Load() != calls+1 {
		t.Errorf("after the back-off the store was not asked")
	}
	if _, err := m.Lookup(ctxT(t), key("hot.jpg")); err != nil || store.calls.Load() != calls+1 {
		t.Errorf("recovered entry is not fresh: calls %d, err %v", store.calls.Load()-calls, err)
	}
}
