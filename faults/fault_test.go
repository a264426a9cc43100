package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

// The fault-injection suite: a populated stack (MariaDB, both memcached nodes, a versitygw
// bucket for the S3-dispatched site, a mount point for the rest), every remote dependency reached
// through its own faultproxy, under a steady load from 8 workers. Each dependency is refused,
// black-holed (and S3 slowed past its first-byte timeout) in turn for a few seconds, then given
// back; the test asserts what each kind of request answers meanwhile and that nothing leaks.

const (
	nfsSite     = "var/nfs/storage/images/"
	s3Site      = "var/s3site/storage/images/"
	hotNFSFiles = 20
	hotS3Files  = 10
	coldRows    = 64 // existing rows no load request touches (probed once per phase)
	fileSize    = 8 << 10

	clientTimeout   = 5 * time.Second // every load request's deadline
	uncachedBound   = 3 * time.Second // db-timeout 500ms: uncached names must answer well within
	workers         = 8               // 3 hot NFS, 3 hot S3, 2 uncached: a slow kind cannot starve the others
	workerPause     = 5 * time.Millisecond
	faultDuration   = 3 * time.Second
	recoverDuration = 2 * time.Second
)

// faultStack is the populated stack and its proxies.
type faultStack struct {
	d                    *running
	db, s3               *faultproxy.Proxy
	memcached            []*faultproxy.Proxy
	files                map[string][]byte // name → bytes, for every imported file
	hotNFS, hotS3, colds []string
	dsn                  string       // direct, not proxied
	uncachedSeq          atomic.Int64 // numbers the never-requested names of every load generator
}

func newFaultStack(t *testing.T) *faultStack {
	t.Helper()
	dsn := testenv.MySQLDatabase(t)
	mcAddrs := testenv.MemcachedAddrs(t)
	srv := testenv.S3Server(t)
	ctx := context.Background()

	// Bucket, directly on versitygw.
	bucket := testkit.NewBucket(t, srv, testkit.S3Admin(srv), "ezdfsd-faults-")

	// Files to import: hot and cold names on both backends.
	ezRoot := t.TempDir()
	mount := t.TempDir()
	st := &faultStack{files: map[string][]byte{}, dsn: dsn}
	add := func(name string) string {
		data := pattern(name, fileSize)
		writeFile(t, ezRoot, name, data)
		st.files[name] = data
		return name
	}
	for i := range hotNFSFiles {
		st.hotNFS = append(st.hotNFS, add(fmt.Sprintf("%shot/%d/img.jpg", nfsSite, i)))
	}
	for i := range hotS3Files {
		st.hotS3 = append(st.hotS3, add(fmt.Sprintf("%shot/%d/img.jpg", s3Site, i)))
	}
	for i := range coldRows {
		site := nfsSite
		if i%2 == 1 {
			site = s3Site
		}
		st.colds = append(st.colds, add(fmt.Sprintf("%scold/%d/img.jpg", site, i)))
	}
	s3u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	common := []string{
		"--metadata=mysql", "--mount-point=" + mount,
		"--path-backend=" + s3Site + "=" + dfs.S3Backend,
		"--s3-bucket=" + bucket, "--s3-region=us-east-1", "--s3-path-style=true",
		"--s3-access-key-id=" + srv.AccessKey, "--s3-secret-access-key=" + srv.SecretKey,
	}
	icfg, err := config.Load(append([]string{"--mysql-dsn=" + dsn, "--s3-endpoint=" + srv.Endpoint}, common...), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := daemon.Import(ctx, icfg, nil, ezRoot, "var", true)
	if err != nil || rep.Failed != 0 || rep.Imported != len(st.files) {
		t.Fatalf("import: %v, %v", rep, err)
	}

	// Proxies in front of every remote dependency.
	var proxiedDSN string
	st.db, proxiedDSN = testkit.ProxyMySQL(t, dsn)
	st.s3 = testkit.StartProxy(t, s3u.Host)
	var mcProxied []string
	for _, a := range mcAddrs {
		p := testkit.StartProxy(t, a)
		st.memcached = append(st.memcached, p)
		mcProxied = append(mcProxied, p.Addr())
	}

	args := append(common,
		"--mysql-dsn="+proxiedDSN,
		"--s3-endpoint=http://"+st.s3.Addr(),
		"--memcached="+strings.Join(mcProxied, ","),
		"--memcached-prefix=faults-"+testenv.RandomSuffix()+":",
		"--cache-ttl=1s", "--stale-if-error=5m", "--db-timeout=500ms",
		"--memcached-timeout=100ms", "--s3-first-byte-timeout=1s", "--retry-after=2s",
		"--log-level=info",
	)
	st.d = startDaemon(t, args...)
	return st
}

// Request kinds of the load mix.
const (
	kindHotNFS   = "hot-nfs"
	kindHotS3    = "hot-s3"
	kindUncached = "uncached"
)

var kinds = []string{kindHotNFS, kindHotS3, kindUncached}

// kindStats are the answers one kind of request got during one phase.
type kindStats struct {
	n          int
	codes      map[int]int
	errs       int // transport errors, timeouts included
	firstErr   error
	noRetry    int // 503 without Retry-After
	badBody    int // 200 with wrong bytes
	maxLatency time.Duration
	expect     int      // the status every answer should have
	straddled  int      // answers other than expect that ended after the phase closed
	unexpected []string // the first few answers that differed
}

// phaseStats collects a phase's answers per kind.
type phaseStats struct {
	name   string
	begun  time.Time
	closed atomic.Int64 // UnixNano when the phase's condition ended (0: still in force)
	mu     sync.Mutex
	by     map[string]*kindStats
}

// close marks the end of the phase's condition, just before the next fault is injected or
// this one healed. Requests that started in the phase but end later straddle the change.
func (ps *phaseStats) close() { ps.closed.Store(time.Now().UnixNano()) }

// newPhaseStats starts a phase during which f is in force (faulty) or has just been healed.
func newPhaseStats(name string, f fault, faulty bool) *phaseStats {
	ps := &phaseStats{name: name, begun: time.Now(), by: map[string]*kindStats{}}
	for _, k := range kinds {
		ps.by[k] = &kindStats{codes: map[int]int{}, expect: expected(f, faulty, k)}
	}
	return ps
}

// expected is the status every request of kind gets while f is in force (faulty) or, once
// healed, with everything up: 200 for the hot names and 404 for names that have no row, unless
// the fault takes their dependency away (503).
func expected(f fault, faulty bool, kind string) int {
	switch {
	case kind == kindHotS3 && faulty && f.hotS3Code != 0:
		return f.hotS3Code
	case kind == kindUncached && faulty && f.uncached != 0:
		return f.uncached
	case kind == kindUncached:
		return http.StatusNotFound
	}
	return http.StatusOK
}

func (ps *phaseStats) record(kind string, code int, start time.Time, lat time.Duration, err error, noRetry, badBody bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	s := ps.by[kind]
	s.n++
	if c := ps.closed.Load(); c != 0 && start.Add(lat).UnixNano() > c && code != s.expect {
		s.straddled++ // answered under the next condition: not held to this phase's expectation
	} else if code != s.expect && len(s.unexpected) < 5 {
		s.unexpected = append(s.unexpected, fmt.Sprintf("%d after %v, started %v into the phase (%v)",
			code, lat.Round(time.Millisecond), start.Sub(ps.begun).Round(time.Millisecond), err))
	}
	if err != nil {
		s.errs++
		if s.firstErr == nil {
			s.firstErr = err
		}
	} else {
		s.codes[code]++
	}
	if noRetry {
		s.noRetry++
	}
	if badBody {
		s.badBody++
	}
	s.maxLatency = max(s.maxLatency, lat)
}

func (s *kindStats) codeList() string {
	var keys []int
	for c := range s.codes {
		keys = append(keys, c)
	}
	sort.Ints(keys)
	var parts []string
	for _, c := range keys {
		parts = append(parts, fmt.Sprintf("%d:%d", c, s.codes[c]))
	}
	if s.errs > 0 {
		parts = append(parts, fmt.Sprintf("err:%d", s.errs))
	}
	out := strings.Join(parts, " ")
	if s.straddled > 0 {
		out += fmt.Sprintf(" (%d ended after the phase)", s.straddled)
	}
	return out
}

// loadGen drives the steady load: workers request a mix of hot NFS, hot S3 and never-seen
// (uncached) names, each with its own client deadline, and record into the current phase.
type loadGen struct {
	st      *faultStack
	client  *http.Client
	current atomic.Pointer[phaseStats]
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newLoadGen(st *faultStack) *loadGen {
	tr := &http.Transport{MaxIdleConnsPerHost: workers * 2, DisableCompression: true}
	return &loadGen{st: st, client: &http.Client{Transport: tr, Timeout: clientTimeout}, stop: make(chan struct{})}
}

func (g *loadGen) start() {
	for w := range workers {
		kind := kindHotNFS
		switch {
		case w >= workers-2:
			kind = kindUncached
		case w >= workers-5:
			kind = kindHotS3
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-g.stop:
					return
				default:
				}
				g.one(rng, kind)
				time.Sleep(workerPause)
			}
		}()
	}
}

func (g *loadGen) one(rng *rand.Rand, kind string) {
	ps := g.current.Load()
	var name string
	switch kind {
	case kindHotNFS:
		name = g.st.hotNFS[rng.IntN(len(g.st.hotNFS))]
	case kindHotS3:
		name = g.st.hotS3[rng.IntN(len(g.st.hotS3))]
	default: // a name never asked before: misses both cache tiers, needs the database
		name = fmt.Sprintf("%suncached/%d.jpg", nfsSite, g.st.uncachedSeq.Add(1))
	}
	start := time.Now()
	res, err := g.client.Get(g.st.d.url("/" + name))
	if err != nil {
		ps.record(kind, 0, start, time.Since(start), err, false, false)
		return
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	lat := time.Since(start)
	if err != nil {
		ps.record(kind, res.StatusCode, start, lat, fmt.Errorf("reading body: %w", err), false, false)
		return
	}
	noRetry := res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == ""
	badBody := res.StatusCode == http.StatusOK && !bytes.Equal(body, g.st.files[name])
	ps.record(kind, res.StatusCode, start, lat, nil, noRetry, badBody)
}

func (g *loadGen) halt() {
	close(g.stop)
	g.wg.Wait()
	g.client.CloseIdleConnections()
}

// fault is one injected failure and what each kind of request must answer while it lasts
// (0: 200 for hot kinds and 404 for uncached names, as with everything up).
type fault struct {
	name      string
	inject    func()
	heal      func()
	hotS3Code int // 503 while S3 is down
	uncached  int // 503 while the database is down
}

func TestFaultInjection(t *testing.T) {
	testenv.RequireSlow(t)
	st := newFaultStack(t)
	setMode := func(p *faultproxy.Proxy, m faultproxy.Mode) {
		if err := p.SetMode(m); err != nil {
			out, _ := exec.Command("ss", "-tanpe").CombinedOutput()
			var lines []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, p.Addr()) {
					lines = append(lines, l)
				}
			}
			t.Fatalf("faultproxy: %v\n%s", err, strings.Join(lines, "\n"))
		}
	}
	mcMode := func(m faultproxy.Mode) {
		for _, p := range st.memcached {
			setMode(p, m)
		}
	}
	faults := []fault{
		{name: "MariaDB refuse", inject: func() { setMode(st.db, faultproxy.Refuse) }, heal: func() { setMode(st.db, faultproxy.Pass) }, uncached: 503},
		{name: "MariaDB blackhole", inject: func() { setMode(st.db, faultproxy.Blackhole) }, heal: func() { setMode(st.db, faultproxy.Pass) }, uncached: 503},
		{name: "memcached refuse", inject: func() { mcMode(faultproxy.Refuse) }, heal: func() { mcMode(faultproxy.Pass) }},
		{name: "memcached blackhole", inject: func() { mcMode(faultproxy.Blackhole) }, heal: func() { mcMode(faultproxy.Pass) }},
		{name: "S3 refuse", inject: func() { setMode(st.s3, faultproxy.Refuse) }, heal: func() { setMode(st.s3, faultproxy.Pass) }, hotS3Code: 503},
		{name: "S3 slow 2s", inject: func() { st.s3.SetDelay(2 * time.Second) }, heal: func() { st.s3.SetDelay(0) }, hotS3Code: 503},
		{name: "S3 blackhole", inject: func() { setMode(st.s3, faultproxy.Blackhole) }, heal: func() { setMode(st.s3, faultproxy.Pass) }, hotS3Code: 503},
	}

	// Warm up every path (caches and connection pools filled at the load's concurrency), stop,
	// and take the reference counts with the stack idle.
	warm := newLoadGen(st)
	warm.current.Store(newPhaseStats("warm-up", fault{}, false))
	warm.start()
	time.Sleep(2 * time.Second)
	warm.halt()
	time.Sleep(time.Second)
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)

	g := newLoadGen(st)
	baseline := newPhaseStats("baseline", fault{}, false)
	g.current.Store(baseline)
	g.start()
	time.Sleep(2 * time.Second)

	var table []*phaseStats
	table = append(table, baseline)
	type check struct {
		ps     *phaseStats
		f      fault
		strict bool
	}
	checks := []check{{baseline, fault{}, true}}
	prev := baseline
	cold := 0
	probeCold := func(want map[string]int, label string) {
		for _, backend := range []string{nfsSite, s3Site} {
			name := ""
			for ; cold < len(st.colds); cold++ {
				if strings.HasPrefix(st.colds[cold], backend) {
					name = st.colds[cold]
					cold++
					break
				}
			}
			if name == "" {
				t.Fatal("out of cold rows")
			}
			code, lat, err := getOnce(st.d.url("/"+name), st.files[name])
			w := want[backend]
			if err != nil || code != w {
				t.Errorf("%s: never-requested %s row: status %d (%v) after %v, want %d", label, backend, code, err, lat, w)
			}
		}
	}
	for _, f := range faults {
		// Requests started before the fault count in an unchecked transition phase, so a strict
		// phase only holds requests that started with the fault already (or still) in force.
		prev.close()
		g.current.Store(newPhaseStats("transition", f, false))
		f.inject()
		fs := newPhaseStats("fault: "+f.name, f, true)
		g.current.Store(fs)
		time.Sleep(faultDuration)
		// A row that exists but was never requested: 503 while the database is down; with S3
		// down, an S3 row too.
		want := map[string]int{nfsSite: 200, s3Site: 200}
		if f.uncached == 503 {
			want[nfsSite], want[s3Site] = 503, 503
		}
		if f.hotS3Code == 503 {
			want[s3Site] = 503
		}
		probeCold(want, fs.name)

		rs := newPhaseStats("recovery: "+f.name, f, false)
		fs.close()
		g.current.Store(rs)
		f.heal()
		time.Sleep(recoverDuration)
		table = append(table, fs, rs)
		checks = append(checks, check{fs, f, true}, check{rs, f, false})
		probeCold(map[string]int{nfsSite: 200, s3Site: 200}, rs.name)
		prev = rs
	}
	g.halt() // every answer is recorded once the workers are done
	for _, c := range checks {
		checkPhase(t, c.ps, c.f, c.strict)
	}

	// Every hot name and a fresh cold row answer 200 again, without a restart.
	for _, name := range append(append([]string{}, st.hotNFS...), st.hotS3...) {
		if code, _, err := getOnce(st.d.url("/"+name), st.files[name]); code != 200 || err != nil {
			t.Errorf("after all faults: %s = %d (%v)", name, code, err)
		}
	}
	logPhaseTable(t, table)
	logMetrics(t, st.d.App.Registry())

	g1, fd1 := settle(t, g0, fd0)
	t.Logf("idle stack: goroutines %d before the faults, %d after; open fds %d before, %d after", g0, g1, fd0, fd1)
	if g1 > g0+goroutineSlack {
		t.Errorf("goroutine leak: %d before, %d after", g0, g1)
		buf := make([]byte, 1<<20)
		t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	}
	if fd1 > fd0+fdSlack {
		t.Errorf("file descriptor leak: %d before, %d after: %s", fd0, fd1, dirFDs())
	}
	checkNoPanic(t, st.d)
}

const (
	goroutineSlack = 16
	fdSlack        = 8
)

// checkPhase asserts what a phase's answers must be. strict phases (the baseline and every
// fault window) must give every request its expected status; recovery windows, where pools are
// reconnecting, may still see 503s, but like every phase no transport error, no request reaching
// its deadline, no 500, no 503 without Retry-After and no 200 with wrong bytes.
func checkPhase(t *testing.T, ps *phaseStats, f fault, strict bool) {
	t.Helper()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, kind := range kinds {
		s := ps.by[kind]
		prefix := ps.name + " / " + kind
		if s.n == 0 {
			t.Errorf("%s: no requests", prefix)
			continue
		}
		if s.errs > 0 {
			t.Errorf("%s: %d requests failed or passed their %v deadline (first: %v)", prefix, s.errs, clientTimeout, s.firstErr)
		}
		if s.codes[500] > 0 {
			t.Errorf("%s: %d answers were 500", prefix, s.codes[500])
		}
		if s.noRetry > 0 {
			t.Errorf("%s: %d 503s without Retry-After", prefix, s.noRetry)
		}
		if s.badBody > 0 {
			t.Errorf("%s: %d 200s with wrong bytes", prefix, s.badBody)
		}
		if s.maxLatency >= clientTimeout {
			t.Errorf("%s: max latency %v reached the deadline", prefix, s.maxLatency)
		}
		if kind == kindUncached && f.uncached != 0 && strict && s.maxLatency >= uncachedBound {
			t.Errorf("%s: max latency %v, want < %v with --db-timeout 500ms", prefix, s.maxLatency, uncachedBound)
		}
		for c := range s.codes {
			if c >= 500 && c != http.StatusServiceUnavailable {
				t.Errorf("%s: %d answers were %d", prefix, s.codes[c], c)
			}
		}
		switch {
		case strict && s.codes[s.expect]+s.straddled != s.n:
			t.Errorf("%s: %s, want all %d; first others: %s", prefix, s.codeList(), s.expect, strings.Join(s.unexpected, "; "))
		case len(s.unexpected) > 0:
			t.Logf("%s: %s; first non-%d: %s", prefix, s.codeList(), s.expect, strings.Join(s.unexpected, "; "))
		}
	}
}

func logPhaseTable(t *testing.T, table []*phaseStats) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n| phase | kind | requests | statuses | max latency |\n|---|---|---|---|---|\n")
	for _, ps := range table {
		ps.mu.Lock()
		for _, kind := range kinds {
			s := ps.by[kind]
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %v |\n", ps.name, kind, s.n, s.codeList(), s.maxLatency.Round(time.Millisecond))
		}
		ps.mu.Unlock()
	}
	t.Log(b.String())
}

// logMetrics prints the counters that explain the table (stale serves, errors per dependency).
func logMetrics(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Errorf("gather: %v", err)
		return
	}
	var lines []string
	for _, mf := range mfs {
		switch mf.GetName() {
		case "ezdfsd_metadata_lookups_total", "ezdfsd_db_queries_total", "ezdfsd_memcached_errors_total",
			"ezdfsd_s3_errors_total", "ezdfsd_storage_events_total", "ezdfsd_http_overload_rejected_total":
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %v", mf.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue()))
		}
	}
	t.Logf("metrics after the run:\n%s", strings.Join(lines, "\n"))
}

// getOnce fetches url with a fresh connection and the load's deadline; a 200 must carry want.
func getOnce(u string, want []byte) (int, time.Duration, error) {
	c := &http.Client{Timeout: clientTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	res, err := c.Get(u)
	if err != nil {
		return 0, time.Since(start), err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	lat := time.Since(start)
	if err != nil {
		return res.StatusCode, lat, err
	}
	if res.StatusCode == 200 && !bytes.Equal(body, want) {
		return res.StatusCode, lat, fmt.Errorf("wrong body (%d bytes)", len(body))
	}
	if res.StatusCode == 503 && res.Header.Get("Retry-After") == "" {
		return res.StatusCode, lat, fmt.Errorf("503 without Retry-After")
	}
	return res.StatusCode, lat, nil
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

// settle waits (up to 20 s) for goroutines and fds to come back near the reference counts,
// as idle connections time out and finished requests unwind, and returns the last counts.
func settle(t *testing.T, g0, fd0 int) (int, int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if (g <= g0+goroutineSlack && fd <= fd0+fdSlack) || time.Now().After(deadline) {
			return g, fd
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dirFDs is a debugging aid: the targets of this process's fds.
func dirFDs() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+"→"+l)
	}
	return strings.Join(out, " ")
}
