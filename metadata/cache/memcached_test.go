package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCodec(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	long := strings.Repeat("var/site/storage/images/é\x00ü/", 40) + "x.jpg"
	tests := []struct {
		name string
		e    Entry
	}{
		{"positive", Entry{Found: true, FetchedAt: at, File: metadata.File{Name: "a.jpg", Datatype: "image/jpeg", Scope: "image", Size: 70000, MTime: 1699999999}}},
		{"expired and deleted", Entry{Found: true, FetchedAt: at, File: metadata.File{Name: "b", Datatype: "misc", Scope: "viewcache", Size: 0, MTime: -5, Expired: true}}},
		{"negative", Entry{FetchedAt: at}},
		{long, Entry{Found: true, FetchedAt: at, File: metadata.File{Name: long, Size: 1 << 40, MTime: 1}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.name), func(t *testing.T) {
			name := tt.e.File.Name
			if !tt.e.Found {
				name = "missing.jpg"
			}
			b := encodeEntry(name, tt.e)
			got, err := decodeEntry(name, b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Found != tt.e.Found || got.File != tt.e.File || !got.FetchedAt.Equal(tt.e.FetchedAt) {
				t.Fatalf("round trip: got %+v, want %+v", got, tt.e)
			}
			if _, err := decodeEntry(name+"x", b); !errors.Is(err, errCollision) {
				t.Fatalf("other name: got %v, want errCollision", err)
			}
			for i := range len(b) {
				if _, err := decodeEntry(name, b[:i]); err == nil {
					t.Fatalf("truncated to %d bytes: no error", i)
				}
			}
			bad := slices.Clone(b)
			bad[0] = codecVersion + 1
			if _, err := decodeEntry(name, bad); err == nil {
				t.Fatal("unknown version accepted")
			}
		})
	}
}

func TestItemKey(t *testing.T) {
	tests := []struct {
		key  metadata.Key
		want string
	}{
		{metadata.Key{Table: "ezdfsfile", Name: "var/a.jpg"}, "ezdfsd:ezdfsfile:" + metadata.NameHash("var/a.jpg")},
		{metadata.Key{Table: "ezdfsfile_cache", Name: strings.Repeat("long name with spaces\x00\n", 100)}, "ezdfsd:ezdfsfile_cache:" + metadata.NameHash(strings.Repeat("long name with spaces\x00\n", 100))},
		{metadata.Key{Table: "odd table", Name: "n"}, "ezdfsd:t" + metadata.NameHash("odd table") + ":" + metadata.NameHash("n")},
	}
	for _, tt := range tests {
		got := itemKey(DefaultMemcachedPrefix, tt.key)
		if got != tt.want {
			t.Errorf("itemKey(%.30q) = %q, want %q", tt.key.Name, got, tt.want)
		}
		if len(got) > 250 || !legalKeyPart(got) {
			t.Errorf("itemKey(%.30q) = %q is not a legal memcached key", tt.key.Name, got)
		}
	}
}

func TestExpirySeconds(t *testing.T) {
	tests := []struct {
		remaining time.Duration
		want      int32
	}{
		{-time.Second, 0}, {0, 0}, {time.Nanosecond, 1}, {999 * time.Millisecond, 1}, {time.Second, 1},
		{1001 * time.Millisecond, 2}, {5 * time.Second, 5}, {365 * 24 * time.Hour, 30 * 24 * 3600},
	}
	for _, tt := range tests {
		if got := expirySeconds(tt.remaining); got != tt.want {
			t.Errorf("expirySeconds(%s) = %d, want %d", tt.remaining, got, tt.want)
		}
	}
}

func testPrefix() string { return "ezdfsd-test-" + testenv.RandomSuffix() + ":" }

// newTestMemcached builds a Memcached on the real test nodes with a fresh prefix.
func newTestMemcached(t testing.TB, store metadata.Store, cfg MemcachedConfig, ttl Config, reg prometheus.Registerer, now func() time.Time) *Memcached {
	t.Helper()
	if cfg.Servers == nil && cfg.DiscoveryEndpoint == "" {
		cfg.Servers = testenv.MemcachedAddrs(t)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = testPrefix()
	}
	m, err := newMemcached(context.Background(), store, cfg, ttl, reg, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

func TestMemcachedTier(t *testing.T) {
	addrs := testenv.MemcachedAddrs(t)
	store, clock := newFakeStore(), newFakeClock()
	store.put("ezdfsfile", testFile("img/a.jpg", 10))
	reg := prometheus.NewRegistry()
	m := newTestMemcached(t, store, MemcachedConfig{}, Config{}, reg, clock.Now)
	direct := memcache.New(addrs...)

	steps := []struct {
		name      string
		advance   time.Duration
		prepare   func(t *testing.T)
		lookup    string
		wantMTime int64 // 0 = not found
		wantCalls int64
	}{
		{name: "miss goes to the store", lookup: "img/a.jpg", wantMTime: 10, wantCalls: 1},
		{name: "hit", advance: 4 * time.Second, lookup: "img/a.jpg", wantMTime: 10, wantCalls: 1},
		{name: "past PositiveTTL by FetchedAt even though memcached still holds it", advance: time.Second, lookup: "img/a.jpg", wantMTime: 10, wantCalls: 2},
		{name: "negative miss", lookup: "img/none.jpg", wantCalls: 3},
		{name: "negative hit", advance: time.Second, lookup: "img/none.jpg", wantCalls: 3},
		{name: "negative expires at NegativeTTL", advance: time.Second, lookup: "img/none.jpg", wantCalls: 4},
		{name: "value for a colliding name is ignored", advance: 10 * time.Second, prepare: func(t *testing.T) {
			other := encodeEntry("img/other.jpg", Entry{Found: true, FetchedAt: clock.Now(), File: testFile("img/other.jpg", 99)})
			if err := direct.Set(&memcache.Item{Key: itemKey(m.prefix, key("img/a.jpg")), Value: other, Expiration: 60}); err != nil {
				t.Fatal(err)
			}
		}, lookup: "img/a.jpg", wantMTime: 10, wantCalls: 5},
		{name: "garbage value is a decode error and a miss", advance: 10 * time.Second, prepare: func(t *testing.T) {
			if err := direct.Set(&memcache.Item{Key: itemKey(m.prefix, key("img/a.jpg")), Value: []byte("garbage"), Expiration: 60}); err != nil {
				t.Fatal(err)
			}
		}, lookup: "img/a.jpg", wantMTime: 10, wantCalls: 6},
		{name: "entry stamped far in the future is ignored", advance: 10 * time.Second, prepare: func(t *testing.T) {
			v := encodeEntry("img/a.jpg", Entry{Found: true, FetchedAt: clock.Now().Add(time.Hour), File: testFile("img/a.jpg", 77)})
			if err := direct.Set(&memcache.Item{Key: itemKey(m.prefix, key("img/a.jpg")), Value: v, Expiration: 60}); err != nil {
				t.Fatal(err)
			}
		}, lookup: "img/a.jpg", wantMTime: 10, wantCalls: 7},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Advance(s.advance)
			if s.prepare != nil {
				s.prepare(t)
			}
			f, err := m.Lookup(ctxT(t), key(s.lookup))
			m.sets.Wait()
			if s.wantMTime == 0 {
				if !errors.Is(err, metadata.ErrNotFound) {
					t.Fatalf("got %+v, %v; want ErrNotFound", f, err)
				}
			} else if err != nil || f.MTime != s.wantMTime {
				t.Fatalf("got %+v, %v; want mtime %d", f, err, s.wantMTime)
			}
			if got := store.calls.Load(); got != s.wantCalls {
				t.Fatalf("store called %d times, want %d", got, s.wantCalls)
			}
		})
	}
	got := counterVec(t, reg, "ezdfsd_metadata_lookups_total")
	if got["memcached/hit"] != 1 || got["memcached/negative_hit"] != 1 || got["memcached/miss"] != 7 {
		t.Errorf("lookups: %v", got)
	}
	if errs := counterVec(t, reg, "ezdfsd_memcached_errors_total"); errs["decode"] != 1 || errs["get"] != 0 || errs["set"] != 0 {
		t.Errorf("errors: %v", errs)
	}
	if err := m.Ping(ctxT(t)); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// node is one ezdfsd process: in-process tier over its own memcached client.
type node struct {
	mem *Memory
	mc  *Memcached
}

func TestTwoNodesShareMemcached(t *testing.T) {
	testenv.MemcachedAddrs(t)
	store, clock := newFakeStore(), newFakeClock()
	store.put("ezdfsfile", testFile("shared.jpg", 1))
	prefix := testPrefix()
	var nodes [2]node
	var regs [2]*prometheus.Registry
	for i := range nodes {
		reg := prometheus.NewRegistry() // one registry per node, as in two processes
		regs[i] = reg
		mc := newTestMemcached(t, store, MemcachedConfig{Prefix: prefix}, Config{}, reg, clock.Now)
		nodes[i] = node{mem: newMemory(mc, Config{}, reg, nil, clock.Now), mc: mc}
	}
	lookup := func(i int, wantMTime int64) {
		t.Helper()
		f, err := nodes[i].mem.Lookup(ctxT(t), key("shared.jpg"))
		if err != nil || f.MTime != wantMTime {
			t.Fatalf("node %d: got %+v, %v; want mtime %d", i, f, err, wantMTime)
		}
		nodes[i].mc.sets.Wait()
	}
	lookup(0, 1)
	clock.Advance(3 * time.Second)
	store.put("ezdfsfile", testFile("shared.jpg", 2)) // eZ changes the row; nobody is told
	lookup(1, 1)                                      // memcached hit: the first node's answer
	if got := store.calls.Load(); got != 1 {
		t.Fatalf("store called %d times, want 1 (second node must hit memcached)", got)
	}
	// Memory and Memcached of one node share the lookup counters of its registry.
	if got := counterVec(t, regs[1], "ezdfsd_metadata_lookups_total"); got["memcached/hit"] != 1 || got["memory/miss"] != 1 {
		t.Fatalf("second node lookups = %v, want one memory miss answered by a memcached hit", got)
	}
	// Node 1 copied the entry into memory at t=3s but with FetchedAt = 0s: it must expire at
	// 5s, not at 8s, and the change must be visible on both nodes then.
	clock.Advance(1999 * time.Millisecond)
	lookup(1, 1)
	clock.Advance(time.Millisecond)
	lookup(1, 2)
	lookup(0, 2)
	if got := store.calls.Load(); got != 2 {
		t.Fatalf("store called %d times, want 2 (node 0 must hit node 1's fresh entry in memcached)", got)
	}
}

func TestMemoryOverMemcachedStoreDown(t *testing.T) {
	testenv.MemcachedAddrs(t)
	store, clock := newFakeStore(), newFakeClock()
	store.put("ezdfsfile", testFile("cached.jpg", 3))
	mc := newTestMemcached(t, store, MemcachedConfig{}, Config{}, nil, clock.Now)
	m := newMemory(mc, DefaultConfig(), nil, nil, clock.Now)
	if _, err := m.Lookup(ctxT(t), key("cached.jpg")); err != nil {
		t.Fatal(err)
	}
	mc.sets.Wait()
	store.down.Store(true)
	clock.Advance(2 * time.Minute)
	if f, err := m.Lookup(ctxT(t), key("cached.jpg")); err != nil || f.MTime != 3 {
		t.Fatalf("cached name: got %+v, %v; want stale row", f, err)
	}
	if _, err := m.Lookup(ctxT(t), key("uncached.jpg")); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("uncached name: got %v, want ErrUnavailable", err)
	}
}

// blackhole accepts connections and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns an address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestMemcachedDown(t *testing.T) {
	const timeout = 50 * time.Millisecond
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"connection refused", closedPort},
		{"no answer (timeout)", blackhole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			store.put("ezdfsfile", testFile("f.jpg", 8))
			reg := prometheus.NewRegistry()
			mc := newTestMemcached(t, store, MemcachedConfig{Servers: []string{tt.addr(t)}, Timeout: timeout}, Config{}, reg, time.Now)
			for i := range 3 {
				start := time.Now()
				f, err := mc.Lookup(ctxT(t), key("f.jpg"))
				elapsed := time.Since(start)
				if err != nil || f.MTime != 8 {
					t.Fatalf("lookup %d: got %+v, %v; want the row from the store", i, f, err)
				}
				if _, err := mc.Lookup(ctxT(t), key("missing.jpg")); !errors.Is(err, metadata.ErrNotFound) {
					t.Fatalf("lookup %d of a missing row: %v", i, err)
				}
				t.Logf("lookup %d took %s (memcached timeout %s)", i, elapsed, timeout)
				// A hang guard, not a speed test: one memcached get is bounded by the timeout.
				if elapsed > 40*timeout {
					t.Fatalf("lookup %d took %s with a %s memcached timeout", i, elapsed, timeout)
				}
			}
			mc.sets.Wait()
			if got := store.calls.Load(); got != 6 {
				t.Errorf("store called %d times, want 6", got)
			}
			errs := counterVec(t, reg, "ezdfsd_memcached_errors_total")
			if errs["get"] != 6 || errs["set"] == 0 {
				t.Errorf("memcached errors: %v (want 6 get errors and some set errors)", errs)
			}
			if err := mc.Ping(ctxT(t)); err == nil {
				t.Error("Ping succeeded with memcached down")
			}
		})
	}
}

func TestNewMemcachedConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  MemcachedConfig
	}{
		{"nothing configured", MemcachedConfig{}},
		{"prefix with space", MemcachedConfig{Servers: []string{"127.0.0.1:1"}, Prefix: "ez dfs"}},
		{"unresolvable server", MemcachedConfig{Servers: []string{"no-port"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := NewMemcached(context.Background(), newFakeStore(), tt.cfg, Config{}, nil, nil); err == nil {
				m.Close(context.Background())
				t.Fatal("no error")
			}
		})
	}
}

func TestParseClusterConfig(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    clusterConfig
		wantErr bool
	}{
		{"ips preferred, sorted", "12\nb.cache.amazonaws.com|10.0.0.2|11211 a.cache.amazonaws.com|10.0.0.1|11211\n",
			clusterConfig{12, []string{"10.0.0.1:11211", "10.0.0.2:11211"}, nil}, false},
		{"host when no ip", "3\nnode1.example||11211 node2.example|10.0.0.9|11212\n",
			clusterConfig{3, []string{"10.0.0.9:11212", "node1.example:11211"}, nil}, false},
		{"crlf and ipv6", "4\r\nh|::1|11211\r\n", clusterConfig{4, []string{"[::1]:11211"}, nil}, false},
		{"duplicates removed", "1\nh|10.0.0.1|1 h|10.0.0.1|1\n", clusterConfig{1, []string{"10.0.0.1:1"}, nil}, false},
		{"no nodes", "5\n\n", clusterConfig{}, true},
		{"no version", "h|10.0.0.1|11211\n", clusterConfig{}, true},
		{"bad node", "5\nh:10.0.0.1:11211\n", clusterConfig{}, true},
		{"bad port", "5\nh|10.0.0.1|http\n", clusterConfig{}, true},
		{"empty node", "5\n||11211\n", clusterConfig{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseClusterConfig([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got.Version != tt.want.Version || !slices.Equal(got.Nodes, tt.want.Nodes)) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// configServer is a fake ElastiCache configuration endpoint.
type configServer struct {
	ln       net.Listener
	mu       sync.Mutex
	version  int
	nodes    []string // host|ip|port
	legacy   bool     // answer "config get cluster" with ERROR, as engines before 1.4.14
	broken   bool     // answer garbage
	down     bool     // close every connection unanswered, as an endpoint that is not up yet
	requests atomic.Int64
}

func newConfigServer(t *testing.T, legacy bool, nodes ...string) *configServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveConfig(t, ln, legacy, nodes...)
}

// serveConfig answers configuration requests on ln until the test ends.
func serveConfig(t *testing.T, ln net.Listener, legacy bool, nodes ...string) *configServer {
	s := &configServer{ln: ln, version: 1, nodes: nodes, legacy: legacy}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *configServer) set(nodes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.nodes = nodes
}

func (s *configServer) setBroken(b bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = b
}

func (s *configServer) setDown(d bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = d
}

func (s *configServer) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.requests.Add(1)
		s.mu.Lock()
		body := fmt.Sprintf("%d\n%s\n", s.version, strings.Join(s.nodes, " "))
		legacy, broken := s.legacy, s.broken
		s.mu.Unlock()
		var out string
		switch cmd := strings.TrimSpace(line); {
		case broken:
			out = "SERVER_ERROR out of memory\r\n"
		case cmd == "config get cluster" && !legacy:
			out = fmt.Sprintf("CONFIG cluster 0 %d\r\n%s\r\nEND\r\n", len(body), body)
		case cmd == "get AmazonElastiCache:cluster" && legacy:
			out = fmt.Sprintf("VALUE AmazonElastiCache:cluster 0 %d\r\n%s\r\nEND\r\n", len(body), body)
		default:
			out = "ERROR\r\n"
		}
		if _, err := c.Write([]byte(out)); err != nil {
			return
		}
	}
}

// ecNode formats a real memcached address as an ElastiCache node entry.
func ecNode(t *testing.T, i int, addr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("ezdfsd-test.0%d.cache.amazonaws.com|%s|%s", i+1, host, port)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestElastiCacheDiscovery(t *testing.T) {
	addrs := testenv.MemcachedAddrs(t)
	if len(addrs) < 2 {
		testenv.Missing(t, "two memcached nodes in TEST_MEMCACHED_ADDR")
	}
	a, b := addrs[0], addrs[1]
	store := newFakeStore()
	for _, n := range []string{"x.jpg", "y.jpg"} {
		store.put("ezdfsfile", testFile(n, 1))
	}
	direct := map[string]*memcache.Client{a: memcache.New(a), b: memcache.New(b)}
	holds := func(m *Memcached, addr, name string) bool {
		_, err := direct[addr].Get(itemKey(m.prefix, key(name)))
		return err == nil
	}

	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			srv := newConfigServer(t, legacy, ecNode(t, 0, a))
			reg := prometheus.NewRegistry()
			m := newTestMemcached(t, store, MemcachedConfig{DiscoveryEndpoint: srv.ln.Addr().String(), DiscoveryInterval: 20 * time.Millisecond}, Config{}, reg, time.Now)
			if got := m.Servers(); !slices.Equal(got, []string{a}) {
				t.Fatalf("after start: servers %v, want [%s]", got, a)
			}
			if _, err := m.Lookup(ctxT(t), key("x.jpg")); err != nil {
				t.Fatal(err)
			}
			m.sets.Wait()
			if !holds(m, a, "x.jpg") || holds(m, b, "x.jpg") {
				t.Fatalf("x.jpg should be stored on %s only", a)
			}

			srv.set(ecNode(t, 1, b))
			waitFor(t, "the node list to change", func() bool { return slices.Equal(m.Servers(), []string{b}) })
			if got := testutil.ToFloat64(m.metrics.servers); got != 1 {
				t.Errorf("servers gauge %v, want 1", got)
			}
			if _, err := m.Lookup(ctxT(t), key("y.jpg")); err != nil {
				t.Fatal(err)
			}
			m.sets.Wait()
			if !holds(m, b, "y.jpg") || holds(m, a, "y.jpg") {
				t.Fatalf("y.jpg should be stored on %s only", b)
			}

			srv.setBroken(true)
			before := srv.requests.Load()
			waitFor(t, "two failed refreshes", func() bool { return srv.requests.Load() >= before+2 })
			if got := m.Servers(); !slices.Equal(got, []string{b}) {
				t.Fatalf("after failed refreshes: servers %v, want the old list [%s]", got, b)
			}
			if got := counterVec(t, reg, "ezdfsd_memcached_errors_total")["discovery"]; got == 0 {
				t.Error("discovery errors not counted")
			}
			if _, err := m.Lookup(ctxT(t), key("y.jpg")); err != nil || testutil.ToFloat64(m.counts.hit) != 1 {
				t.Fatalf("lookup after failed refresh: %v, memcached hits %v", err, testutil.ToFloat64(m.counts.hit))
			}

			srv.setBroken(false)
			srv.set(ecNode(t, 1, b), ecNode(t, 0, a))
			waitFor(t, "both nodes", func() bool { return len(m.Servers()) == 2 })
			if want := []string{a, b}; !slices.Equal(m.Servers(), slices.Sorted(slices.Values(want))) {
				t.Fatalf("servers %v, want sorted %v", m.Servers(), want)
			}
		})
	}

	t.Run("endpoint down at start: static list, keeps retrying", func(t *testing.T) {
		srv := newConfigServer(t, false, ecNode(t, 1, b))
		srv.setDown(true)
		reg := prometheus.NewRegistry()
		m := newTestMemcached(t, store, MemcachedConfig{Servers: []string{a}, DiscoveryEndpoint: srv.ln.Addr().String(), DiscoveryInterval: 20 * time.Millisecond}, Config{}, reg, time.Now)
		if got := m.Servers(); !slices.Equal(got, []string{a}) {
			t.Fatalf("servers %v, want the static list [%s]", got, a)
		}
		if _, err := m.Lookup(ctxT(t), key("x.jpg")); err != nil {
			t.Fatal(err)
		}
		// The first try was at start; wait for two more, all failed, the static list kept.
		waitFor(t, "two failed retries of the discovery", func() bool {
			return counterVec(t, reg, "ezdfsd_memcached_errors_total")["discovery"] >= 3
		})
		if got := m.Servers(); !slices.Equal(got, []string{a}) {
			t.Fatalf("after failed retries: servers %v, want [%s]", got, a)
		}
		srv.setDown(false)
		waitFor(t, "the discovered node list once the endpoint is back", func() bool { return slices.Equal(m.Servers(), []string{b}) })
	})
}

func BenchmarkMemcachedHit(b *testing.B) {
	store := newFakeStore()
	store.put("ezdfsfile", testFile("var/ezdemo_site/storage/images/a/b/foo.jpg", 1))
	m := newTestMemcached(b, store, MemcachedConfig{}, Config{PositiveTTL: time.Hour}, prometheus.NewRegistry(), time.Now)
	k := key("var/ezdemo_site/storage/images/a/b/foo.jpg")
	ctx := context.Background()
	if _, err := m.Lookup(ctx, k); err != nil {
		b.Fatal(err)
	}
	m.sets.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Lookup(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	if calls := store.calls.Load(); calls != 1 {
		b.Fatalf("store called %d times, want 1", calls)
	}
}

// TestCodecGuardsOnRequestedName: the memcached value's collision guard is the name that was
// asked for, never the row's name column, so a row found by name_hash whose stored name differs
// (an old site's double-encoded "cafÃ©.jpg" for "café.jpg") is served from memcached too.
func TestCodecGuardsOnRequestedName(t *testing.T) {
	asked := "var/site/storage/images/café.jpg"
	row := metadata.File{Name: "var/site/storage/images/cafÃ©.jpg", Datatype: "image/jpeg", Scope: "image", Size: 3, MTime: 4}
	b := encodeEntry(asked, Entry{Found: true, FetchedAt: time.Unix(1700000000, 0), File: row})
	got, err := decodeEntry(asked, b)
	if err != nil {
		t.Fatalf("decode under the requested name: %v", err)
	}
	want := row
	want.Name = asked
	if !got.Found || got.File != want {
		t.Fatalf("decoded %+v, want %+v", got.File, want)
	}
	if _, err := decodeEntry(row.Name, b); !errors.Is(err, errCollision) {
		t.Fatalf("decode under the row's name: %v, want errCollision", err)
	}
}
