package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

const (
	// cacheTTL and negativeTTL are the short TTLs of the daemons whose entries must expire
	// during the test. The expiry checks only wait at least this long (a lower bound load
	// cannot break); they never require something to happen within a time.
	cacheTTL    = time.Second
	negativeTTL = 500 * time.Millisecond
	// longTTL is the TTL of the daemons whose checks count hits and queries: nothing they cache
	// may expire during the test, however slowly a loaded machine runs it.
	longTTL = time.Hour
	// eventWait bounds the wait for an event that normally takes milliseconds (a memcached set
	// landing, MySQL answering again): reaching it means the event is not coming.
	eventWait = 30 * time.Second
	// hangBound is how long a request may take while MySQL is refused or black-holed: db-timeout
	// (2 s) plus slack no load reaches, and below the client's 30 s timeout, so it tells a
	// bounded failure from a request left hanging.
	hangBound = 20 * time.Second
)

// cachingEnv is one fresh database with rows and files, and the pieces a daemon needs.
type cachingEnv struct {
	dsn   string // direct
	db    *sql.DB
	store *sqlstore.Store
	mount string
}

func newCachingEnv(t *testing.T) *cachingEnv {
	t.Helper()
	e := &cachingEnv{dsn: testenv.MySQLDatabase(t), mount: t.TempDir()}
	e.store = testkit.MySQLStore(t, e.dsn)
	db, err := sql.Open("mysql", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	return e
}

// add writes a row and its file: bytes first, then the row, as the importer does.
func (e *cachingEnv) add(t *testing.T, name string) {
	t.Helper()
	data := []byte("bytes of " + name)
	writeFile(t, e.mount+"/"+name, data)
	put(t, e.store, e.mount, metadata.File{Name: name, Datatype: "image/jpeg", Scope: "image", Size: int64(len(data)), MTime: mtime}, nil)
}

// deleteRow is what every eZ delete does (spec §1.3).
func (e *cachingEnv) deleteRow(t *testing.T, name string) {
	t.Helper()
	res, err := e.db.ExecContext(context.Background(), "UPDATE ezdfsfile SET mtime=-ABS(mtime), expired=1 WHERE name_hash=?", metadata.NameHash(name))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("UPDATE affected %d rows", n)
	}
}

func setMode(t *testing.T, p *faultproxy.Proxy, m faultproxy.Mode) {
	t.Helper()
	if err := p.SetMode(m); err != nil {
		t.Fatal(err)
	}
}

// cachedDaemonArgs is the daemon under test: MariaDB at dsn, memcached at servers, the short
// TTLs cacheTTL and negativeTTL.
func cachedDaemonArgs(dsn, mount, servers, prefix string) []string {
	return cachedDaemonArgsTTL(dsn, mount, servers, prefix, cacheTTL, negativeTTL)
}

// cachedDaemonArgsTTL is cachedDaemonArgs with the given positive and negative TTLs.
func cachedDaemonArgsTTL(dsn, mount, servers, prefix string, ttl, negative time.Duration) []string {
	return []string{
		"--metadata=mysql", "--mysql-dsn=" + dsn, "--mount-point=" + mount,
		"--memcached=" + servers, "--memcached-prefix=" + prefix,
		"--cache-ttl=" + ttl.String(), "--cache-negative-ttl=" + negative.String(),
		"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--served-by=it", "--shutdown-timeout=2s",
	}
}

// counters reads the lookup counters of one daemon.
type counters struct{ d *testkit.Daemon }

func (c counters) db(t *testing.T) float64 {
	return testkit.MetricSum(t, c.d.App.Registry(), "ezdfsd_db_queries_total", nil)
}

func (c counters) lookups(t *testing.T, tier, result string) float64 {
	return testkit.MetricSum(t, c.d.App.Registry(), "ezdfsd_metadata_lookups_total", map[string]string{"tier": tier, "result": result})
}

// memcachedSets counts the daemon's finished memcached sets (observed once memcached answered
// or the set failed) and, of them, the failed ones.
func (c counters) memcachedSets(t *testing.T) (done, failed float64) {
	reg := c.d.App.Registry()
	return testkit.MetricSum(t, reg, "ezdfsd_memcached_duration_seconds", map[string]string{"op": "set"}),
		testkit.MetricSum(t, reg, "ezdfsd_memcached_errors_total", map[string]string{"op": "set"})
}

// waitMemcachedSet waits until one more memcached set than done0 has finished, and fails t if
// one failed since (failed0): the daemon's asynchronous write has landed and another node can
// read it.
func (c counters) waitMemcachedSet(t *testing.T, done0, failed0 float64) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		done, failed := c.memcachedSets(t)
		if failed > failed0 {
			t.Fatalf("%v memcached sets failed (see the daemon's log)", failed-failed0)
		}
		if done > done0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no memcached set finished within %v", eventWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCachingAgainstRealServers runs the daemon with MariaDB (through a fault proxy) and both
// memcached nodes, and checks issue 4's promises: hits and misses per tier, entries expire after
// cache-ttl, a deleted row is never served once cache-ttl has passed, a new row is served once
// cache-negative-ttl has passed, memcached down keeps the DB path, MySQL down keeps cached names
// (stale-if-error) and answers 503 in bounded time for the rest, recovery without restart, and a
// second node reading the first node's entries from memcached.
//
// No check depends on how fast the machine runs: the counting checks use daemons with an
// hour-long TTL, the expiry checks only wait at least a TTL, and the second node starts reading
// once the first node's memcached write has landed.
func TestCachingAgainstRealServers(t *testing.T) {
	e := newCachingEnv(t)
	dbProxy, proxiedDSN := testkit.ProxyMySQL(t, e.dsn)
	mc := testenv.MemcachedAddrs(t)
	prefix := "ezdfsd-it-" + testenv.RandomSuffix() + ":"
	args := cachedDaemonArgs(proxiedDSN, e.mount, strings.Join(mc, ","), prefix)
	a := testkit.StartDaemon(t, args, nil)
	ca := counters{a}
	// l (and a second node in "two daemons share memcached") keep every entry for the whole test.
	longPrefix := "ezdfsd-it-long-" + testenv.RandomSuffix() + ":"
	longArgs := append(cachedDaemonArgsTTL(e.dsn, e.mount, strings.Join(mc, ","), longPrefix, longTTL, longTTL),
		// A memcached answer slower than the 100 ms default (a loaded machine) must not turn
		// a hit into a DB query here.
		"--memcached-timeout=10s")
	l := testkit.StartDaemon(t, longArgs, nil)
	cl := counters{l}
	client := newClient(t, 8)
	get := func(d *testkit.Daemon, name string) response { return do(t, client, d.URL, "GET", "/"+name) }
	name := func(s string) string { return imgX + s }
	for _, n := range []string{"hot.jpg", "expiring.jpg", "gone.jpg", "shared.jpg", "warm.jpg", "cold.jpg", "cold2.jpg", "mc-down.jpg", "mc-hole.jpg"} {
		e.add(t, name(n))
	}

	t.Run("hit and miss per tier", func(t *testing.T) {
		db0, memMiss0, mcMiss0 := cl.db(t), cl.lookups(t, "memory", "miss"), cl.lookups(t, "memcached", "miss")
		if r := get(l, name("hot.jpg")); r.Code != 200 {
			t.Fatalf("first GET: %d", r.Code)
		}
		if got := cl.db(t) - db0; got != 1 {
			t.Errorf("first GET: %v DB queries, want 1", got)
		}
		if cl.lookups(t, "memory", "miss")-memMiss0 != 1 || cl.lookups(t, "memcached", "miss")-mcMiss0 != 1 {
			t.Errorf("first GET: memory misses +%v, memcached misses +%v, want +1 each",
				cl.lookups(t, "memory", "miss")-memMiss0, cl.lookups(t, "memcached", "miss")-mcMiss0)
		}
		hit0 := cl.lookups(t, "memory", "hit")
		for range 5 {
			if r := get(l, name("hot.jpg")); r.Code != 200 {
				t.Fatalf("cached GET: %d", r.Code)
			}
		}
		if got := cl.db(t) - db0; got != 1 {
			t.Errorf("after 5 cached GETs: %v DB queries, want 1", got)
		}
		if got := cl.lookups(t, "memory", "hit") - hit0; got != 5 {
			t.Errorf("memory hits +%v, want +5", got)
		}

		neg0 := cl.lookups(t, "memory", "negative_hit")
		db1 := cl.db(t)
		for range 3 {
			if r := get(l, name("nope.jpg")); r.Code != 404 {
				t.Fatalf("missing name: %d", r.Code)
			}
		}
		if got := cl.db(t) - db1; got != 1 {
			t.Errorf("3 GETs of a missing name: %v DB queries, want 1 (negative caching)", got)
		}
		if got := cl.lookups(t, "memory", "negative_hit") - neg0; got != 2 {
			t.Errorf("negative hits +%v, want +2", got)
		}

		t.Logf("hot.jpg: 1 DB query for 6 GETs, 5 memory hits; missing name: 1 DB query for 3 GETs")
	})

	t.Run("entries expire after cache-ttl in both tiers", func(t *testing.T) {
		n := name("expiring.jpg")
		db0 := ca.db(t)
		if r := get(a, n); r.Code != 200 {
			t.Fatalf("first GET: %d", r.Code)
		}
		if got := ca.db(t) - db0; got != 1 {
			t.Errorf("first GET: %v DB queries, want 1", got)
		}
		// The entry was fetched before the answer came; after cache-ttl more it is stale in
		// memory and in memcached, however long the machine took.
		time.Sleep(cacheTTL)
		db1 := ca.db(t)
		if r := get(a, n); r.Code != 200 {
			t.Fatalf("GET after cache-ttl: %d", r.Code)
		}
		if got := ca.db(t) - db1; got != 1 {
			t.Errorf("GET after cache-ttl: %v DB queries, want 1 (expired in both tiers)", got)
		}
	})

	t.Run("two daemons share memcached", func(t *testing.T) {
		b := testkit.StartDaemon(t, longArgs, nil)
		cb := counters{b}
		done0, failed0 := cl.memcachedSets(t)
		if r := get(l, name("shared.jpg")); r.Code != 200 {
			t.Fatalf("daemon A: %d", r.Code)
		}
		// Daemon A writes memcached after answering: B looks once the write has landed.
		cl.waitMemcachedSet(t, done0, failed0)
		dbB, hitB := cb.db(t), cb.lookups(t, "memcached", "hit")
		if r := get(b, name("shared.jpg")); r.Code != 200 {
			t.Fatalf("daemon B: %d", r.Code)
		}
		if got := cb.db(t) - dbB; got != 0 {
			t.Errorf("daemon B made %v DB queries, want 0 (memcached hit)", got)
		}
		if got := cb.lookups(t, "memcached", "hit") - hitB; got != 1 {
			t.Errorf("daemon B memcached hits +%v, want +1", got)
		}
	})

	t.Run("deleted row is not served once cache-ttl has passed", func(t *testing.T) {
		n := name("gone.jpg")
		if r := get(a, n); r.Code != 200 {
			t.Fatalf("before delete: %d", r.Code)
		}
		e.deleteRow(t, n)
		// Every cached entry of n was fetched before this point, so it is stale in both tiers
		// cacheTTL later: a GET sent after that must read the deleted row.
		p := pollUntil(t, time.Now().Add(cacheTTL), func() int { return get(a, n).Code }, 200, 404)
		t.Logf("row deleted at T: %d GETs before T+cache-ttl (%v): %d answered 200 from the cache, then 404; the GET after it: %d",
			p.before, cacheTTL, p.old, p.last)
		if p.last != 404 {
			t.Errorf("GET sent cache-ttl (%v) after the delete answered %d, want 404", cacheTTL, p.last)
		}
		if p.backwards != 0 {
			t.Errorf("%d GETs answered 200 after a 404", p.backwards)
		}
	})

	t.Run("new row is served once cache-negative-ttl has passed", func(t *testing.T) {
		n := name("new.jpg")
		if r := get(a, n); r.Code != 404 {
			t.Fatalf("before insert: %d", r.Code)
		}
		e.add(t, n)
		// The cached "no such row" was fetched before the insert: a GET sent negativeTTL
		// after it must read the new row.
		p := pollUntil(t, time.Now().Add(negativeTTL), func() int { return get(a, n).Code }, 404, 200)
		t.Logf("row inserted at T: %d GETs before T+cache-negative-ttl (%v): %d answered 404 from the cache, then 200; the GET after it: %d",
			p.before, negativeTTL, p.old, p.last)
		if p.last != 200 {
			t.Errorf("GET sent cache-negative-ttl (%v) after the insert answered %d, want 200", negativeTTL, p.last)
		}
		if p.backwards != 0 {
			t.Errorf("%d GETs answered 404 after a 200", p.backwards)
		}
	})

	t.Run("memcached down keeps the DB path", func(t *testing.T) {
		mcProxy := testkit.StartProxy(t, mc[0])
		setMode(t, mcProxy, faultproxy.Refuse)
		c := testkit.StartDaemon(t, cachedDaemonArgs(e.dsn, e.mount, mcProxy.Addr(), prefix), nil)
		cc := counters{c}
		for _, step := range []struct {
			mode faultproxy.Mode
			what string
			file string
		}{{faultproxy.Refuse, "refused", "mc-down.jpg"}, {faultproxy.Blackhole, "black-holed", "mc-hole.jpg"}} {
			setMode(t, mcProxy, step.mode)
			db0 := cc.db(t)
			r := get(c, name(step.file))
			if r.Code != 200 {
				t.Fatalf("memcached %s: GET %d", step.what, r.Code)
			}
			if got := cc.db(t) - db0; got != 1 {
				t.Errorf("memcached %s: %v DB queries, want 1", step.what, got)
			}
			t.Logf("memcached %s: 200 from the DB in %v", step.what, r.Elapsed.Round(time.Millisecond))
		}
		if got := testkit.MetricSum(t, c.App.Registry(), "ezdfsd_memcached_errors_total", nil); got == 0 {
			t.Error("ezdfsd_memcached_errors_total did not count the failures")
		}
	})

	t.Run("MySQL down: stale-if-error, 503 for the rest, recovery", func(t *testing.T) {
		warm := name("warm.jpg")
		if r := get(a, warm); r.Code != 200 {
			t.Fatalf("warm-up: %d", r.Code)
		}
		time.Sleep(cacheTTL) // the entry is now stale in both tiers (stale-if-error keeps it 5 min)
		for _, step := range []struct {
			mode faultproxy.Mode
			what string
			cold string
		}{{faultproxy.Refuse, "refused", "cold.jpg"}, {faultproxy.Blackhole, "black-holed", "cold2.jpg"}} {
			setMode(t, dbProxy, step.mode)
			stale0 := ca.lookups(t, "memory", "stale")
			r := get(a, warm)
			if r.Code != 200 || string(r.Body) != "bytes of "+warm {
				t.Errorf("MySQL %s: cached name answered %d %q, want 200 (stale-if-error)", step.what, r.Code, r.Body)
			}
			if got := ca.lookups(t, "memory", "stale") - stale0; got != 1 {
				t.Errorf("MySQL %s: stale lookups +%v, want +1", step.what, got)
			}
			t.Logf("MySQL %s: cached name 200 (stale) in %v", step.what, r.Elapsed.Round(time.Millisecond))
			r = get(a, name(step.cold))
			if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Errorf("MySQL %s: uncached name answered %d Retry-After %q, want 503 with Retry-After",
					step.what, r.Code, r.Header.Get("Retry-After"))
			}
			if r.Elapsed >= hangBound {
				t.Errorf("MySQL %s: 503 took %v, want < %v (db-timeout is 2 s)", step.what, r.Elapsed, hangBound)
			}
			t.Logf("MySQL %s: uncached name %d Retry-After %s in %v", step.what, r.Code, r.Header.Get("Retry-After"),
				r.Elapsed.Round(time.Millisecond))
		}

		setMode(t, dbProxy, faultproxy.Pass)
		back := time.Now()
		for {
			r := get(a, name("cold.jpg"))
			if r.Code == 200 {
				t.Logf("MySQL back: uncached name 200 after %v, no restart", time.Since(back).Round(time.Millisecond))
				break
			}
			if time.Since(back) > eventWait {
				t.Fatalf("no recovery within %v: still %d", eventWait, r.Code)
			}
			time.Sleep(50 * time.Millisecond)
		}
		db0 := ca.db(t)
		if r := get(a, name("cold2.jpg")); r.Code != 200 {
			t.Errorf("after recovery: %d", r.Code)
		}
		if got := ca.db(t) - db0; got != 1 {
			t.Errorf("after recovery: %v DB queries, want 1", got)
		}
	})

	t.Run("metrics listener exposes the series", func(t *testing.T) {
		r := do(t, client, a.MetricsURL, "GET", "/metrics")
		for _, s := range []string{"ezdfsd_db_queries_total{", `ezdfsd_metadata_lookups_total{result="hit",tier="memory"}`,
			`ezdfsd_metadata_lookups_total{result="stale",tier="memory"}`, `tier="memcached"`} {
			if !strings.Contains(string(r.Body), s) {
				t.Errorf("/metrics lacks %s", s)
			}
		}
	})
}

// TestMissStormOneQuery sends 1,000 concurrent GETs of one uncached name through the real
// daemon: the metadata cache must coalesce them into exactly one MariaDB query.
func TestMissStormOneQuery(t *testing.T) {
	e := newCachingEnv(t)
	n := imgX + "storm.jpg"
	e.add(t, n)
	// MariaDB behind a proxy that delays every answer by 50 ms, so the one lookup is still out
	// while the other requests arrive: they must wait for it, not ask again.
	slowDB, slowDSN := testkit.ProxyMySQL(t, e.dsn)
	slowDB.SetDelay(50 * time.Millisecond)
	d := testkit.StartDaemon(t, []string{"--metadata=mysql", "--mysql-dsn=" + slowDSN, "--mount-point=" + e.mount,
		"--max-concurrent-fetches=2000", "--listen=127.0.0.1:0", "--metrics-listen=", "--shutdown-timeout=2s",
		// The one answer stays cached however long the storm takes on a loaded machine.
		"--cache-ttl=" + longTTL.String()}, nil)
	c := counters{d}
	client := newClient(t, 100)
	const requests = 1000
	db0 := c.db(t)
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make(chan string, requests)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := try(client, d.URL, "GET", "/"+n)
			switch {
			case err != nil:
				codes <- err.Error()
			case r.Code != 200:
				codes <- fmt.Sprint(r.Code)
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(codes)
	failures := map[string]int{}
	for c := range codes {
		failures[c]++
	}
	queries := c.db(t) - db0
	coalesced := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_metadata_coalesced_total", nil)
	t.Logf("miss storm: %d concurrent GETs (100 connections, DB answers delayed 50 ms) in %v; DB queries %v; coalesced waits %v; failures %v",
		requests, time.Since(began).Round(time.Millisecond), queries, coalesced, failures)
	if len(failures) != 0 {
		t.Errorf("not all 200: %v", failures)
	}
	if queries != 1 {
		t.Errorf("DB queries = %v, want exactly 1", queries)
	}
}

// polled is what pollUntil saw.
type polled struct {
	before    int // requests sent before the deadline
	old       int // of them, answered with the old status
	backwards int // old status seen again after the new one
	last      int // status of the first request sent at or after the deadline
}

// pollUntil sends requests (status returns the answer's code) every 20 ms until one is sent at
// or after deadline, and returns what it saw. A request sent before the deadline may see
// oldCode or newCode; seeing oldCode after newCode is counted in backwards; any other status
// fails t. The caller checks last, the answer of the request sent after the deadline: which
// answers come before it depends on the machine's speed, that one does not.
func pollUntil(t *testing.T, deadline time.Time, status func() int, oldCode, newCode int) polled {
	t.Helper()
	var p polled
	seenNew := false
	for {
		after := !time.Now().Before(deadline)
		code := status()
		if code != oldCode && code != newCode {
			t.Fatalf("status %d, want %d or %d", code, oldCode, newCode)
		}
		if code == oldCode && seenNew {
			p.backwards++
		}
		if after {
			p.last = code
			return p
		}
		p.before++
		if code == oldCode && !seenNew {
			p.old++
		}
		seenNew = seenNew || code == newCode
		time.Sleep(20 * time.Millisecond)
	}
}
