package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by NewMemcached to zero MemcachedConfig fields.
const (
	DefaultMemcachedPrefix       = "ezdfsd:"
	DefaultMemcachedTimeout      = 100 * time.Millisecond
	DefaultMemcachedMaxIdleConns = 64
	DefaultDiscoveryInterval     = 60 * time.Second
)

// maxPendingSets bounds the background memcached sets in flight; further sets are dropped
// (and counted as set errors) rather than queued.
const maxPendingSets = 64

// MemcachedConfig says which memcached nodes to use and how.
type MemcachedConfig struct {
	// Servers are host:port addresses, used as given (and as the initial list when
	// DiscoveryEndpoint is set too).
	Servers []string
	// DiscoveryEndpoint is an ElastiCache configuration endpoint (host:port). When set, the node
	// list is read from it at start and every DiscoveryInterval.
	DiscoveryEndpoint string
	// DiscoveryInterval is the refresh period of the node list. Zero means
	// DefaultDiscoveryInterval.
	DiscoveryInterval time.Duration
	// Prefix starts every key, so ezdfsd's keys never meet another application's. Zero means
	// DefaultMemcachedPrefix. It must not contain spaces or control bytes.
	Prefix string
	// Timeout bounds each memcached operation (connect, read, write). Zero means
	// DefaultMemcachedTimeout.
	Timeout time.Duration
	// MaxIdleConns is the number of idle connections kept per node. Zero means
	// DefaultMemcachedMaxIdleConns.
	MaxIdleConns int
	// TLS, when not nil, encrypts every connection: to the servers, to discovered nodes and to
	// the discovery endpoint (ElastiCache in-transit encryption). An empty ServerName means
	// each address's host.
	TLS *tls.Config
}

// dialFunc opens a connection, as net.Dialer.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// tlsDialer opens TLS connections whose certificate must be for the server's host name.
// gomemcache resolves server addresses before it dials, so the dialer is handed an IP address;
// it maps that back to the name the address was given or discovered as (remember).
type tlsDialer struct {
	cfg   *tls.Config
	names sync.Map // "ip:port" → host name
}

// remember records that addr (ip:port) is the server named host.
func (d *tlsDialer) remember(addr, host string) {
	if host != "" && net.ParseIP(host) == nil {
		d.names.Store(addr, host)
	}
}

// rememberServers records the names of servers given as host:port, resolved as gomemcache
// resolves them.
func (d *tlsDialer) rememberServers(servers []string) {
	for _, s := range servers {
		host, _, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		if a, err := net.ResolveTCPAddr("tcp", s); err == nil {
			d.remember(a.String(), host)
		}
	}
}

// DialContext dials addr with TLS, checking the certificate against the name remembered for
// addr (or the configured ServerName, or addr's host).
func (d *tlsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	cfg := d.cfg
	if cfg.ServerName == "" {
		if host, ok := d.names.Load(addr); ok {
			cfg = cfg.Clone()
			cfg.ServerName = host.(string)
		}
	}
	return (&tls.Dialer{Config: cfg}).DialContext(ctx, network, addr)
}

// Memcached is the shared tier: entries in memcached, visible to every ezdfsd node, in front of
// another store (typically the SQL store). It implements metadata.Store and TimedStore and is
// safe for concurrent use.
//
// Memcached is optional infrastructure: its failures never fail a lookup. A get error falls
// through to the store, a set error is ignored; both are counted and logged (rate-limited).
// Items expire in memcached when their TTL (measured from FetchedAt) runs out, rounded up to
// whole seconds; an entry read back after its TTL is ignored regardless.
type Memcached struct {
	next     TimedStore
	ttl      Config
	prefix   string
	client   *memcache.Client
	servers  *memcache.ServerList
	flight   coalescer
	counts   tierCounters
	metrics  memcachedMetrics
	logger   *slog.Logger
	errLog   logLimiter
	now      func() time.Time
	pending  chan struct{} // semaphore for background sets
	sets     sync.WaitGroup
	closed   atomic.Bool
	stop     context.CancelFunc
	loopDone chan struct{}

	endpoint  string
	dial      dialFunc
	tlsDial   *tlsDialer // nil without TLS
	interval  time.Duration
	discTimeo time.Duration
	current   atomic.Pointer[[]string]
}

var (
	_ metadata.Store = (*Memcached)(nil)
	_ TimedStore     = (*Memcached)(nil)
)

type memcachedMetrics struct {
	getErr, setErr, decodeErr, pingErr, discoveryErr prometheus.Counter
	getSeconds, setSeconds                           prometheus.Observer
	servers                                          prometheus.Gauge
}

// NewMemcached wraps next with a memcached tier. ttl supplies PositiveTTL, NegativeTTL and
// LookupTimeout (zero fields take the defaults). With a DiscoveryEndpoint, the first discovery
// runs under ctx; if it fails the tier starts with cfg.Servers (possibly none, in which case
// every lookup goes to the store) and keeps retrying. It fails only on an invalid
// configuration. Close stops the discovery goroutine.
func NewMemcached(ctx context.Context, next metadata.Store, cfg MemcachedConfig, ttl Config, reg prometheus.Registerer, logger *slog.Logger) (*Memcached, error) {
	return newMemcached(ctx, next, cfg, ttl, reg, logger, time.Now)
}

func newMemcached(ctx context.Context, next metadata.Store, cfg MemcachedConfig, ttl Config, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time) (*Memcached, error) {
	if len(cfg.Servers) == 0 && cfg.DiscoveryEndpoint == "" {
		return nil, errors.New("memcached cache: no Servers and no DiscoveryEndpoint")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultMemcachedPrefix
	}
	if len(cfg.Prefix) > 150 || !legalKeyPart(cfg.Prefix) {
		return nil, fmt.Errorf("memcached cache: Prefix %q: must be at most 150 bytes without spaces or control bytes", cfg.Prefix)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultMemcachedTimeout
	}
	if cfg.MaxIdleConns <= 0 {
		cfg.MaxIdleConns = DefaultMemcachedMaxIdleConns
	}
	if cfg.DiscoveryInterval <= 0 {
		cfg.DiscoveryInterval = DefaultDiscoveryInterval
	}
	servers := new(memcache.ServerList)
	if err := servers.SetServers(cfg.Servers...); err != nil {
		return nil, fmt.Errorf("memcached cache: servers %v: %w", cfg.Servers, err)
	}
	ttl = ttl.withDefaults()
	logger = orDiscard(logger)

	client := memcache.NewFromSelector(servers)
	dial := (&net.Dialer{}).DialContext
	var tlsDial *tlsDialer
	if cfg.TLS != nil {
		tlsDial = &tlsDialer{cfg: cfg.TLS}
		tlsDial.rememberServers(cfg.Servers)
		dial = tlsDial.DialContext
	}
	client.DialContext = dial
	client.Timeout = cfg.Timeout
	client.MaxIdleConns = cfg.MaxIdleConns

	lookups := mustRegister(reg, logger, newLookups())
	coalesced := mustRegister(reg, logger, newCoalesced())
	errs := mustRegister(reg, logger, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ezdfsd_memcached_errors_total",
		Help: "Failed memcached operations (get, set, decode, ping, discovery); lookups fell through to the store.",
	}, []string{"op"}))
	durations := mustRegister(reg, logger, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ezdfsd_memcached_duration_seconds",
		Help:    "Duration of memcached operations (get, set), failures included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5},
	}, []string{"op"}))
	gauge := mustRegister(reg, logger, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ezdfsd_memcached_servers",
		Help: "Memcached nodes in use (static list or last successful discovery).",
	}))

	m := &Memcached{
		next:    timed(next, now),
		ttl:     ttl,
		prefix:  cfg.Prefix,
		client:  client,
		servers: servers,
		flight:  coalescer{timeout: ttl.LookupTimeout, coalesced: coalesced},
		counts:  tierOf(lookups, "memcached"),
		metrics: memcachedMetrics{
			getErr:       errs.WithLabelValues("get"),
			setErr:       errs.WithLabelValues("set"),
			decodeErr:    errs.WithLabelValues("decode"),
			pingErr:      errs.WithLabelValues("ping"),
			discoveryErr: errs.WithLabelValues("discovery"),
			getSeconds:   durations.WithLabelValues("get"),
			setSeconds:   durations.WithLabelValues("set"),
			servers:      gauge,
		},
		logger:    logger,
		errLog:    logLimiter{every: time.Second},
		now:       now,
		pending:   make(chan struct{}, maxPendingSets),
		endpoint:  cfg.DiscoveryEndpoint,
		dial:      dial,
		tlsDial:   tlsDial,
		interval:  cfg.DiscoveryInterval,
		discTimeo: max(10*cfg.Timeout, 2*time.Second),
		loopDone:  make(chan struct{}),
	}
	initial := append([]string(nil), cfg.Servers...)
	m.current.Store(&initial)
	gauge.Set(float64(len(initial)))

	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = stop
	if m.endpoint == "" {
		close(m.loopDone)
		return m, nil
	}
	ictx, cancel := context.WithTimeout(ctx, m.discTimeo)
	err := m.refresh(ictx)
	cancel()
	if err != nil {
		logger.Warn("memcached discovery failed at start; using the static list and retrying",
			"endpoint", m.endpoint, "servers", initial, "err", err)
	}
	go m.discoveryLoop(loopCtx)
	return m, nil
}

// Lookup returns the row for key from memcached while it is fresh, else from the wrapped store
// (coalesced), storing the answer in memcached. Errors wrap metadata.ErrNotFound or
// metadata.ErrUnavailable (the latter only from the store).
func (m *Memcached) Lookup(ctx context.Context, key metadata.Key) (metadata.File, error) {
	e, err := m.LookupTimed(ctx, key)
	if err != nil {
		return metadata.File{}, err
	}
	return toFile(key, e)
}

// LookupTimed is Lookup returning the entry with its original FetchedAt, so the in-process
// tier in front keeps the same staleness bound.
func (m *Memcached) LookupTimed(ctx context.Context, key metadata.Key) (Entry, error) {
	if err := ctx.Err(); err != nil {
		m.counts.err.Inc()
		return Entry{}, fmt.Errorf("memcached cache: %s %q: %w: %w", key.Table, key.Name, metadata.ErrUnavailable, err)
	}
	ik := itemKey(m.prefix, key)
	if e, ok := m.get(ik, key); ok {
		m.counts.hitOf(e)
		return e, nil
	}
	e, err := m.flight.do(ctx, key, func(ctx context.Context) (Entry, error) {
		e, err := m.next.LookupTimed(ctx, key)
		if err != nil {
			return Entry{}, err
		}
		m.setAsync(ik, key, e)
		return e, nil
	})
	if err != nil {
		m.counts.err.Inc()
		return Entry{}, fmt.Errorf("memcached cache: %s %q: %w", key.Table, key.Name, err)
	}
	m.counts.miss.Inc()
	return e, nil
}

// get returns a fresh entry for key from memcached, or false on a miss, a stale or foreign
// entry, or a memcached failure (counted and logged).
func (m *Memcached) get(ik string, key metadata.Key) (Entry, bool) {
	start := time.Now()
	it, err := m.client.Get(ik)
	m.metrics.getSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		if !errors.Is(err, memcache.ErrCacheMiss) {
			m.metrics.getErr.Inc()
			m.logErr("get", ik, err)
		}
		return Entry{}, false
	}
	e, err := decodeEntry(key.Name, it.Value)
	if err != nil {
		if !errors.Is(err, errCollision) {
			m.metrics.decodeErr.Inc()
			m.logErr("decode", ik, err)
		}
		return Entry{}, false
	}
	now := m.now()
	ttl := m.ttl.ttl(e)
	if !m.ttl.fresh(e, now) || e.FetchedAt.Sub(now) > ttl {
		return Entry{}, false // expired, or stamped by a node whose clock is far ahead
	}
	return e, true
}

// setAsync stores e under ik in the background with the expiration left on its TTL, so a
// slow or dead memcached never delays the answer.
func (m *Memcached) setAsync(ik string, key metadata.Key, e Entry) {
	secs := expirySeconds(m.ttl.ttl(e) - m.now().Sub(e.FetchedAt))
	if secs == 0 || m.closed.Load() {
		return
	}
	select {
	case m.pending <- struct{}{}:
	default:
		m.metrics.setErr.Inc()
		m.logErr("set", ik, errors.New("too many pending sets, dropped"))
		return
	}
	item := &memcache.Item{Key: ik, Value: encodeEntry(key.Name, e), Expiration: secs}
	m.sets.Add(1)
	go func() {
		defer m.sets.Done()
		defer func() { <-m.pending }()
		start := time.Now()
		err := m.client.Set(item)
		m.metrics.setSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			m.metrics.setErr.Inc()
			m.logErr("set", ik, err)
		}
	}()
}

func (m *Memcached) logErr(op, key string, err error) {
	if ok, dropped := m.errLog.allow(time.Now()); ok {
		m.logger.Warn("memcached error, using the metadata store", "op", op, "key", key, "err", err, "suppressed", dropped)
	}
}

// Ping checks that every memcached node in use answers. It is readiness information only:
// lookups work without memcached.
func (m *Memcached) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memcached ping: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.client.Ping() }()
	select {
	case err := <-done:
		if err != nil {
			m.metrics.pingErr.Inc()
			return fmt.Errorf("memcached ping %v: %w", m.Servers(), err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memcached ping: %w", ctx.Err())
	}
}

// Servers returns the memcached nodes in use (a copy).
func (m *Memcached) Servers() []string {
	return append([]string(nil), (*m.current.Load())...)
}

// Close stops discovery, waits (until ctx is done) for background sets, and closes idle
// connections. Lookups after Close still work but no longer write to memcached.
func (m *Memcached) Close(ctx context.Context) error {
	m.closed.Store(true)
	m.stop()
	done := make(chan struct{})
	go func() {
		<-m.loopDone
		m.sets.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("memcached cache close: %w", ctx.Err())
	}
	if err := m.client.Close(); err != nil {
		return fmt.Errorf("memcached cache close: %w", err)
	}
	return nil
}

// discoveryLoop refreshes the node list every interval until ctx is cancelled (by Close).
// While the list is empty it retries more often.
func (m *Memcached) discoveryLoop(ctx context.Context) {
	defer close(m.loopDone)
	for {
		wait := m.interval
		if len(*m.current.Load()) == 0 {
			wait = min(wait, 5*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, m.discTimeo)
		err := m.refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.logger.Warn("memcached discovery failed; keeping the current node list",
				"endpoint", m.endpoint, "servers", m.Servers(), "err", err)
		}
	}
}

// refresh reads the node list from the discovery endpoint and installs it if it changed. On
// any failure the current list stays.
func (m *Memcached) refresh(ctx context.Context) error {
	cc, err := discover(ctx, m.dial, m.endpoint)
	if err != nil {
		m.metrics.discoveryErr.Inc()
		return err
	}
	if m.tlsDial != nil {
		for addr, host := range cc.Names {
			m.tlsDial.remember(addr, host)
		}
	}
	if slices.Equal(cc.Nodes, *m.current.Load()) {
		return nil
	}
	if err := m.servers.SetServers(cc.Nodes...); err != nil {
		m.metrics.discoveryErr.Inc()
		return fmt.Errorf("memcached discovery %s: install nodes %v: %w", m.endpoint, cc.Nodes, err)
	}
	nodes := append([]string(nil), cc.Nodes...)
	m.current.Store(&nodes)
	m.metrics.servers.Set(float64(len(nodes)))
	m.logger.Info("memcached node list changed", "endpoint", m.endpoint, "version", cc.Version, "servers", nodes)
	return nil
}

// expirySeconds turns the TTL left on an entry into a memcached expiration: whole seconds
// rounded up, at least 1, at most 30 days (memcached reads larger values as Unix times); 0 when
// nothing is left (do not store).
func expirySeconds(remaining time.Duration) int32 {
	const maxRelative = 30 * 24 * time.Hour
	if remaining <= 0 {
		return 0
	}
	return int32((min(remaining, maxRelative) + time.Second - 1) / time.Second)
}
