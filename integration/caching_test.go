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
	cacheTTL    = time.Second
	negativeTTL = 500 * time.Millisecond
	// slack covers the poll interval, one HTTP round trip and one DB query on a loaded 2-core machine.
	slack = 500 * time.Millisecond
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

// cachedDaemonArgs is the daemon under test: MariaDB at dsn, memcached at servers, short TTLs.
func cachedDaemonArgs(dsn, mount, servers, prefix string) []string {
	return []string{
		"--metadata=mysql", "--mysql-dsn=" + dsn, "--mount-point=" + mount,
		"--memcached=" + servers, "--memcached-prefix=" + prefix,
		"--cache-ttl=" + cacheTTL.String(), "--cache-negative-ttl=" + negativeTTL.String(),
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

// TestCachingAgainstRealServers runs the daemon with MariaDB (through a fault proxy) and both
// memcached nodes, and checks issue 4's promises: hits and misses per tier, a deleted row stops
// being served within cache-ttl, a new row appears within cache-negative-ttl, memcached down
// keeps the DB path, MySQL down keeps cached names (stale-if-error) and answers 503 quickly for
// the rest, recovery without restart, and a second node reading the first node's entries from
// memcached.
func TestCachingAgainstRealServers(t *testing.T) {
	e := newCachingEnv(t)
	dbProxy, proxiedDSN := testkit.ProxyMySQL(t, e.dsn)
	mc := testenv.MemcachedAddrs(t)
	prefix := "ezdfsd-it-" + testenv.RandomSuffix() + ":"
	args := cachedDaemonArgs(proxiedDSN, e.mount, strings.Join(mc, ","), prefix)
	a := testkit.StartDaemon(t, args, nil)
	ca := counters{a}
	client := newClient(t, 8)
	get := func(d *testkit.Daemon, name string) response { return do(t, client, d.URL, "GET", "/"+name) }
	name := func(s string) string { return imgX + s }
	for _, n := range []string{"hot.jpg", "gone.jpg", "shared.jpg", "warm.jpg", "cold.jpg", "cold2.jpg", "mc-down.jpg", "mc-hole.jpg"} {
		e.add(t, name(n))
	}

	t.Run("hit and miss per tier", func(t *testing.T) {
		db0, memMiss0, mcMiss0 := ca.db(t), ca.lookups(t, "memory", "miss"), ca.lookups(t, "memcached", "miss")
		if r := get(a, name("hot.jpg")); r.Code != 200 {
			t.Fatalf("first GET: %d", r.Code)
		}
		if got := ca.db(t) - db0; got != 1 {
			t.Errorf("first GET: %v DB queries, want 1", got)
		}
		if ca.lookups(t, "memory", "miss")-memMiss0 != 1 || ca.lookups(t, "memcached", "miss")-mcMiss0 != 1 {
			t.Errorf("first GET: memory misses +%v, memcached misses +%v, want +1 each",
				ca.lookups(t, "memory", "miss")-memMiss0, ca.lookups(t, "memcached", "miss")-mcMiss0)
		}
		hit0 := ca.lookups(t, "memory", "hit")
		for range 5 {
			if r := get(a, name("hot.jpg")); r.Code != 200 {
				t.Fatalf("cached GET: %d", r.Code)
			}
		}
		if got := ca.db(t) - db0; got != 1 {
			t.Errorf("after 5 cached GETs: %v DB queries, want 1", got)
		}
		if got := ca.lookups(t, "memory", "hit") - hit0; got != 5 {
			t.Errorf("memory hits +%v, want +5", got)
		}

		neg0 := ca.lookups(t, "memory", "negative_hit")
		db1 := ca.db(t)
		for range 3 {
			if r := get(a, name("nope.jpg")); r.Code != 404 {
				t.Fatalf("missing name: %d", r.Code)
			}
		}
		if got := ca.db(t) - db1; got != 1 {
			t.Errorf("3 GETs of a missing name: %v DB queries, want 1 (negative caching)", got)
		}
		if got := ca.lookups(t, "memory", "negative_hit") - neg0; got != 2 {
			t.Errorf("negative hits +%v, want +2", got)
		}

		time.Sleep(cacheTTL + 100*time.Millisecond)
		db2 := ca.db(t)
		if r := get(a, name("hot.jpg")); r.Code != 200 {
			t.Fatalf("GET after TTL: %d", r.Code)
		}
		if got := ca.db(t) - db2; got != 1 {
			t.Errorf("GET after cache-ttl: %v DB queries, want 1 (expired in both tiers)", got)
		}
		t.Logf("hot.jpg: 1 DB query for 6 GETs, 5 memory hits; missing name: 1 DB query for 3 GETs; re-read after %v", cacheTTL)
	})

	t.Run("two daemons share memcached", func(t *testing.T) {
		b := testkit.StartDaemon(t, args, nil)
		cb := counters{b}
		if r := get(a, name("shared.jpg")); r.Code != 200 {
			t.Fatalf("daemon A: %d", r.Code)
		}
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

	t.Run("deleted row stops being served within cache-ttl", func(t *testing.T) {
		n := name("gone.jpg")
		if r := get(a, n); r.Code != 200 {
			t.Fatalf("before delete: %d", r.Code)
		}
		e.deleteRow(t, n)
		deleted := time.Now()
		var first404 time.Duration
		polls, late200 := 0, 0
		for time.Since(deleted) < cacheTTL+slack+500*time.Millisecond {
			r := get(a, n)
			polls++
			switch {
			case r.Code == 404 && first404 == 0:
				first404 = time.Since(deleted)
			case r.Code == 200 && first404 != 0:
				late200++
			case r.Code != 200 && r.Code != 404:
				t.Fatalf("status %d", r.Code)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("row deleted at T, first 404 after %.3f s (bound cache-ttl %v + slack %v); %d polls, %d 200s after it",
			first404.Seconds(), cacheTTL, slack, polls, late200)
		if first404 == 0 || first404 > cacheTTL+slack {
			t.Errorf("first 404 after %v, want within %v", first404, cacheTTL+slack)
		}
		if late200 != 0 {
			t.Errorf("%d responses were 200 after the first 404", late200)
		}
	})

	t.Run("new row appears within cache-negative-ttl", func(t *testing.T) {
		n := name("new.jpg")
		if r := get(a, n); r.Code != 404 {
			t.Fatalf("before insert: %d", r.Code)
		}
		e.add(t, n)
		added := time.Now()
		var first200 time.Duration
		polls, late404 := 0, 0
		for time.Since(added) < negativeTTL+slack+300*time.Millisecond {
			r := get(a, n)
			polls++
			switch {
			case r.Code == 200 && first200 == 0:
				first200 = time.Since(added)
			case r.Code == 404 && first200 != 0:
				late404++
			case r.Code != 200 && r.Code != 404:
				t.Fatalf("status %d", r.Code)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("row inserted at T, first 200 after %.3f s (bound cache-negative-ttl %v + slack %v); %d polls",
			first200.Seconds(), negativeTTL, slack, polls)
		if first200 == 0 || first200 > negativeTTL+slack {
			t.Errorf("first 200 after %v, want within %v", first200, negativeTTL+slack)
		}
		if late404 != 0 {
			t.Errorf("%d responses were 404 after the first 200", late404)
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
		time.Sleep(cacheTTL + 100*time.Millisecond) // the entry is now stale in both tiers
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
			if r.Elapsed >= 5*time.Second {
				t.Errorf("MySQL %s: 503 took %v, want < 5s", step.what, r.Elapsed)
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
			if time.Since(back) > 10*time.Second {
				t.Fatalf("no recovery within 10s: still %d", r.Code)
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
		"--max-concurrent-fetches=2000", "--listen=127.0.0.1:0", "--metrics-listen=", "--shutdown-timeout=2s"}, nil)
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
