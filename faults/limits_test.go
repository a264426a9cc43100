package faults

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
)

// Limits and backpressure: --max-concurrent-fetches turns excess requests into quick 503s with
// Retry-After while the admitted ones finish, and --db-max-open caps the database connections
// however many requests wait for one.

// TestLimitConcurrentFetches fills every fetch slot with a download the client does not read
// (so the handler is stuck writing it), then sends more requests: each is answered 503 with the
// configured Retry-After while the slots are still held, the held downloads then complete with
// the right bytes, and the daemon serves normally again.
func TestLimitConcurrentFetches(t *testing.T) {
	site := newHostileSite(t)
	const slots, excess = 4, 12
	d := startDaemon(t, site.args("--max-concurrent-fetches="+strconv.Itoa(slots), "--retry-after=2s")...)

	var held []*bufio.Reader
	for i := range slots {
		c, err := net.Dial("tcp", d.FilesAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.WriteString(c, get("/"+bigName)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(c, 1024)
		if _, err := br.Peek(1); err != nil { // admitted: the answer has started
			t.Fatalf("slow download %d: %v", i, err)
		}
		held = append(held, br)
	}

	type answer struct {
		code       int
		retryAfter string
		took       time.Duration
		err        error
	}
	answers := make(chan answer, excess)
	var wg sync.WaitGroup
	for range excess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res := rawRequest(d.FilesAddr, "GET", get("/"+goodName))
			answers <- answer{res.status, res.header.Get("Retry-After"), time.Since(start), res.err}
		}()
	}
	wg.Wait() // every excess request was answered while the slots are still held
	close(answers)
	var slowest time.Duration
	for a := range answers {
		if a.err != nil || a.code != http.StatusServiceUnavailable || a.retryAfter != "2" {
			t.Errorf("excess request: status %d, Retry-After %q, err %v; want 503 with Retry-After 2", a.code, a.retryAfter, a.err)
		}
		slowest = max(slowest, a.took)
	}
	t.Logf("%d excess requests answered 503 while %d downloads held every slot; slowest answer %v", excess, slots, slowest.Round(time.Millisecond))

	for i, br := range held {
		res := readResponse(br, "GET")
		if res.err != nil || res.status != 200 || !bytes.Equal(res.body, site.big) {
			t.Errorf("held download %d: status %d, %d bytes, err %v", i, res.status, len(res.body), res.err)
		}
	}
	if got := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_http_overload_rejected_total", nil); got != excess {
		t.Errorf("ezdfsd_http_overload_rejected_total = %v, want %d", got, excess)
	}
	checkHealthy(t, d, "/"+goodName, site.good)
	checkNoPanic(t, d)
}

// TestLimitDBConnections sends a burst of requests for uncached rows while every database
// round trip is slowed by a faultproxy: the excess beyond --max-concurrent-fetches gets 503,
// the admitted requests queue for the pool's --db-max-open connections and all complete, and
// neither the pool (go_sql_open_connections) nor MariaDB (its process list for this database)
// ever holds more connections than --db-max-open.
func TestLimitDBConnections(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	const (
		maxOpen = 4
		fetches = 16
		burst   = 64
	)
	ctx := context.Background()
	ezRoot, mount := t.TempDir(), t.TempDir()
	files := map[string][]byte{}
	var names []string
	for i := range burst {
		name := fmt.Sprintf("%sburst/%d.jpg", nfsSite, i)
		files[name] = pattern(name, 1024)
		writeFile(t, ezRoot, name, files[name])
		names = append(names, name)
	}
	common := []string{"--metadata=mysql", "--mount-point=" + mount}
	icfg, err := config.Load(append([]string{"--mysql-dsn=" + dsn}, common...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := daemon.Import(ctx, icfg, nil, ezRoot, "var", true); err != nil || rep.Failed != 0 {
		t.Fatalf("import: %v, %v", rep, err)
	}

	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dbName := mc.DBName
	proxy, proxiedDSN := testkit.ProxyMySQL(t, dsn)
	d := startDaemon(t, append(common,
		"--mysql-dsn="+proxiedDSN,
		"--db-max-open="+strconv.Itoa(maxOpen),
		"--max-concurrent-fetches="+strconv.Itoa(fetches),
		"--cache-entries=0", // every request is a database lookup
		"--db-timeout=20s", "--retry-after=2s",
	)...)
	proxy.SetDelay(250 * time.Millisecond) // every chunk MariaDB sends: a new connection needs 3 before its first answer

	admin, err := sql.Open("mysql", testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)

	// Sample both counts while the burst runs.
	var maxPool, maxServer atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if v, err := testkit.Sum(d.App.Registry(), "go_sql_open_connections", nil); err == nil && int64(v) > maxPool.Load() {
				maxPool.Store(int64(v))
			}
			var n int64
			if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?", dbName).Scan(&n); err == nil && n > maxServer.Load() {
				maxServer.Store(n)
			}
		}
	}()

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: burst}}
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Get(d.url("/" + name))
			if err != nil {
				t.Errorf("GET %s: %v", name, err)
				return
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case err != nil:
				t.Errorf("GET %s: %v", name, err)
			case res.StatusCode == 200 && !bytes.Equal(body, files[name]):
				t.Errorf("GET %s: wrong bytes", name)
			case res.StatusCode == 503 && res.Header.Get("Retry-After") != "2":
				t.Errorf("GET %s: 503 with Retry-After %q", name, res.Header.Get("Retry-After"))
			}
			mu.Lock()
			codes[res.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stopSampling)
	<-sampled
	client.CloseIdleConnections()
	proxy.SetDelay(0)

	t.Logf("burst of %d uncached requests in %v: statuses %v; max pool connections %d, max MariaDB connections for the database %d (--db-max-open %d, --max-concurrent-fetches %d)",
		burst, took.Round(time.Millisecond), codes, maxPool.Load(), maxServer.Load(), maxOpen, fetches)
	if codes[200]+codes[503] != burst {
		t.Errorf("statuses %v: only 200 and 503 expected", codes)
	}
	if codes[200] < fetches {
		t.Errorf("%d answers were 200; every one of the %d admitted requests should complete", codes[200], fetches)
	}
	if codes[503] == 0 {
		t.Errorf("no request was turned away although %d arrived for %d slots", burst, fetches)
	}
	if maxPool.Load() > maxOpen || maxServer.Load() > maxOpen {
		t.Errorf("connections exceeded --db-max-open %d: pool %d, server %d", maxOpen, maxPool.Load(), maxServer.Load())
	}
	if maxPool.Load() == 0 || maxServer.Load() == 0 {
		t.Errorf("sampling saw no connection (pool %d, server %d)", maxPool.Load(), maxServer.Load())
	}
	checkHealthy(t, d, "/"+names[0], files[names[0]])
	checkNoPanic(t, d)
}
