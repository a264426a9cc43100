// Package daemon is ezdfsd's composition root: it builds every component (metadata store and
// caches, storage backends, HTTP handler, readiness, metrics) from one config.Config, runs the
// listeners and shuts them down in order. cmd/ezdfsd only parses the command line and calls it;
// integration tests and benchmarks build the same App in-process.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/httpserve"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/cache"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/ops"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// readinessTimeout bounds each readiness probe; they run every --readiness-interval.
const readinessTimeout = 2 * time.Second

// App is the composition root: every component built from one Config, and closed in reverse
// order of construction.
type App struct {
	cfg       *config.Config
	logger    *slog.Logger
	reg       *prometheus.Registry
	store     *sqlstore.Store
	meta      metadata.Store
	backends  map[string]storage.Backend
	files     *httpserve.Handler
	handler   fasthttp.RequestHandler
	readiness *ops.Readiness
	closers   []func(context.Context) error
	// lenient turns a mount point that cannot be opened into a failing check instead of an
	// error (ezdfsd check reports it with the rest).
	lenient bool
	// filesLn and metricsLn, when set by UseListeners, replace binding cfg.Listen and
	// cfg.MetricsListen in Run.
	filesLn, metricsLn net.Listener
}

// New builds every component the configuration asks for. Nothing is contacted that the
// configuration does not name; unreachable dependencies do not fail construction (the daemon
// starts, answers 503 and reports not-ready until they come back).
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, version string) (_ *App, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// a is not the named result: "return nil, err" must not make the deferred Close see nil
	// (that panicked and hid err), and what was opened before the failure must be closed.
	a := &App{cfg: cfg, logger: logger, reg: ops.NewRegistry(version)}
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	checks, err := a.openMetadata(ctx)
	if err != nil {
		return nil, err
	}
	storageChecks, err := a.openStorage(ctx)
	if err != nil {
		return nil, err
	}
	checks = append(checks, storageChecks...)

	allow, err := dfs.NewAllowList(cfg.ServedPatterns())
	if err != nil {
		return nil, err
	}
	routing := httpserve.Routing{Allow: allow, Tables: cfg.Tables(), Dispatch: cfg.Dispatch()}
	h, err := httpserve.New(httpConfig(cfg), routing, a.meta, a.backends, logger, a.reg)
	if err != nil {
		return nil, err
	}
	a.files = h
	a.handler = ops.LimitConcurrency(h.ServeFastHTTP, cfg.MaxConcurrentFetches, h.Unavailable, a.reg)
	a.readiness = ops.NewReadiness(checks, cfg.ReadinessInterval, readinessTimeout, a.reg, logger)
	return a, nil
}

// httpConfig maps the daemon configuration onto the HTTP handler's.
func httpConfig(cfg *config.Config) httpserve.Config {
	hc := httpserve.DefaultConfig()
	hc.ServedBy = cfg.ServedBy
	hc.PoweredBy = cfg.PoweredBy
	hc.HTTPCache = cfg.HTTPCache
	hc.Ranges = cfg.HTTPRange
	hc.Expires = cfg.Expires
	hc.ExpiryTimeout = cfg.ExpiryTimeout
	hc.CacheControl = cfg.CacheControl
	hc.StrictExpiry = cfg.StrictExpiry
	hc.MissingRetries = cfg.MissingRetries
	hc.MissingRetryDelay = cfg.MissingRetryDelay
	hc.RetryAfter = cfg.RetryAfter
	hc.AccessLog = cfg.AccessLog
	hc.Profile = cfg.Profile
	hc.ReadStallTimeout = cmp.Or(cfg.S3.FirstByteTimeout, s3.DefaultFirstByteTimeout)
	return hc
}

// openMetadata opens the SQL store and stacks the configured caches on it:
// in-process → memcached → store.
func (a *App) openMetadata(ctx context.Context) ([]ops.Check, error) {
	cfg := a.cfg
	store, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	// Ready means the database answers and every configured table has the columns lookups read.
	checks := []ops.Check{{Name: "metadata_" + cfg.Metadata, Critical: true, Probe: store.Check}}

	ttl := cache.Config{
		MaxEntries:   cfg.CacheEntries,
		PositiveTTL:  cfg.CacheTTL,
		NegativeTTL:  cfg.CacheNegativeTTL,
		StaleIfError: cfg.StaleIfError,
	}
	a.meta = store
	if len(cfg.Memcached) > 0 || cfg.MemcachedDiscovery != "" {
		tlsCfg, err := memcachedTLS(cfg)
		if err != nil {
			return nil, err
		}
		mc, err := cache.NewMemcached(ctx, a.meta, cache.MemcachedConfig{
			Servers:           cfg.Memcached,
			DiscoveryEndpoint: cfg.MemcachedDiscovery,
			Prefix:            cfg.MemcachedPrefix,
			Timeout:           cfg.MemcachedTimeout,
			TLS:               tlsCfg,
		}, ttl, a.reg, a.logger)
		if err != nil {
			return nil, fmt.Errorf("memcached: %w", err)
		}
		a.onClose(mc.Close)
		checks = append(checks, ops.Check{Name: "memcached", Critical: false, Probe: mc.Ping})
		a.meta = mc
	}
	if cfg.CacheEntries > 0 {
		a.meta = cache.NewMemory(a.meta, ttl, a.reg, a.logger)
	}
	return checks, nil
}

// Registry returns the app's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// Handler returns the file-serving fasthttp handler (with the concurrency limit applied).
func (a *App) Handler() fasthttp.RequestHandler { return a.handler }

// Readiness returns the readiness state machine.
func (a *App) Readiness() *ops.Readiness { return a.readiness }

// WrapHandler replaces the file-serving handler Run serves with wrap(handler), for a caller
// that adds routes of its own in front of it (the demo's page at "/"). Call it before Run.
func (a *App) WrapHandler(wrap func(fasthttp.RequestHandler) fasthttp.RequestHandler) {
	a.handler = wrap(a.handler)
}

// UseListeners makes Run serve files on files and metrics on metrics (nil: none) instead of
// binding cfg.Listen and cfg.MetricsListen, so a caller can bind its ports before slow setup
// and fail at once when one is taken. Run closes them when it returns. Call it before Run.
func (a *App) UseListeners(files, metrics net.Listener) { a.filesLn, a.metricsLn = files, metrics }

// OpenStore opens the SQL metadata store the configuration names, without caches (for one-shot
// commands that write rows). The caller closes it.
func OpenStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*sqlstore.Store, error) {
	a := &App{cfg: cfg, logger: logger}
	return a.openStore(ctx)
}

// openStore opens the SQL metadata store (MySQL/MariaDB, PostgreSQL, or the embedded SQLite file).
func (a *App) openStore(ctx context.Context) (*sqlstore.Store, error) {
	cfg := a.cfg
	sc := sqlstore.Config{
		Tables:       cfg.Tables().Names(),
		MaxOpenConns: cfg.DB.MaxOpen,
		QueryTimeout: cfg.DB.Timeout,
		Logger:       a.logger,
	}
	var err error
	switch cfg.Metadata {
	case "postgres":
		pgURL, _ := cfg.PostgresConnString()
		a.store, err = sqlstore.OpenPostgres(ctx, pgURL, sc, a.registerer())
	case "mysql":
		dsn, _ := cfg.MySQLDSN()
		if sc.MySQL, err = mysqlSecurity(ctx, cfg, dsn); err != nil {
			return nil, fmt.Errorf("metadata store: %w", err)
		}
		a.store, err = sqlstore.OpenMySQL(ctx, dsn, sc, a.registerer())
	case "sqlite":
		a.store, err = sqlstore.OpenSQLite(ctx, cfg.SQLitePath, sc, a.registerer())
	default: // config.Load resolves auto: anything else would silently be another store
		err = fmt.Errorf("unknown metadata store %q", cfg.Metadata)
	}
	if err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	store := a.store
	a.onClose(func(context.Context) error { return store.Close() })
	return store, nil
}

// openStorage opens every backend the dispatch rules can choose.
func (a *App) openStorage(ctx context.Context) ([]ops.Check, error) {
	cfg := a.cfg
	a.backends = map[string]storage.Backend{}
	var checks []ops.Check
	for _, class := range cfg.Dispatch().Backends() {
		switch class {
		case dfs.MountPointBackend:
			if cfg.MountPoint == "" {
				return nil, errors.New("files are dispatched to the mount point (eZDFSFileHandlerDFSBackend) but no mount point is set (--mount-point, CLUSTER_MOUNT_POINT_PATH or file.ini MountPointPath)")
			}
			mp, err := mountpoint.New(cfg.MountPoint)
			if err != nil && a.lenient {
				checks = append(checks, ops.Check{Name: "mountpoint", Critical: true, Probe: func(context.Context) error { return err }})
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("mount point: %w", err)
			}
			mp.ReuseOpenFiles(cfg.OpenFileReuse)
			if reg := a.registerer(); reg != nil {
				for _, c := range mp.Collectors() {
					if err := reg.Register(c); err != nil {
						return nil, fmt.Errorf("mount point metrics: %w", err)
					}
				}
			}
			a.onClose(func(context.Context) error { return mp.Close() })
			a.backends[class] = mp
			checks = append(checks, ops.Check{Name: "mountpoint", Critical: true, Probe: mp.Ping})
		case dfs.S3Backend:
			b, err := s3.New(ctx, s3Config(cfg), a.registerer(), a.logger)
			if err != nil {
				return nil, fmt.Errorf("s3 backend: %w", err)
			}
			a.backends[class] = s3Keys(cfg, b)
			checks = append(checks, ops.Check{Name: "s3", Critical: true, Probe: b.Ping})
		default:
			return nil, fmt.Errorf("unknown DFS backend class %q (ezdfsd serves %s and %s)", class, dfs.MountPointBackend, dfs.S3Backend)
		}
	}
	return checks, nil
}

// s3Keys gives the platform profile's S3 backend the awss3v3 adapter's keys (prefix + SPI id,
// dfs.FlysystemKey); the legacy profile's keys are the cluster names.
func s3Keys(cfg *config.Config, b *s3.S3) storage.Backend {
	if cfg.Profile != dfs.ProfilePlatform {
		return b
	}
	prefix := cfg.S3.Prefix
	return storage.Keyed{Backend: b, Key: func(name string) string { return dfs.FlysystemKey(prefix, name) }}
}

func s3Config(cfg *config.Config) s3.Config {
	return s3.Config{
		Bucket:           cfg.S3.Bucket,
		Region:           cfg.S3.Region,
		Endpoint:         cfg.S3.Endpoint,
		PathStyle:        cfg.S3.PathStyle,
		AccessKeyID:      cfg.S3.AccessKeyID,
		SecretAccessKey:  cfg.S3.SecretAccessKey,
		Profile:          cfg.S3.Profile,
		FirstByteTimeout: cfg.S3.FirstByteTimeout,
	}
}

// registerer returns the metrics registry, or a nil interface when the app has none (one-shot
// commands such as import), never a typed nil.
func (a *App) registerer() prometheus.Registerer {
	if a.reg == nil {
		return nil
	}
	return a.reg
}

func (a *App) onClose(f func(context.Context) error) { a.closers = append(a.closers, f) }

// Close releases every component in reverse order of construction. A nil App has nothing to close.
func (a *App) Close(ctx context.Context) {
	if a == nil {
		return
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](ctx); err != nil {
			a.logger.Warn("closing", "err", err)
		}
	}
	a.closers = nil
}

// Run serves until ctx is done, then shuts down in order: readiness says "stopping", the file
// listener drains in-flight downloads (up to the shutdown timeout), then the metrics listener
// stops and the components are closed. ready, if not nil, is called once both listeners are bound.
func (a *App) Run(ctx context.Context, notifySocket string, ready func(filesAddr, metricsAddr string)) error {
	cfg := a.cfg
	ln, err := listenOr(a.filesLn, cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	ln = ops.LimitListener(ln, cfg.MaxConnections)
	srv := httpserve.NewServer(a.handler, httpserve.Limits{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		MaxConnections:    cfg.MaxConnections,
		Logger:            a.logger,
	})
	var mln net.Listener
	var msrv *http.Server
	if cfg.MetricsListen != "" || a.metricsLn != nil {
		if mln, err = listenOr(a.metricsLn, cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("listen %s (metrics): %w", cfg.MetricsListen, err)
		}
		msrv = &http.Server{
			Handler:           ops.NewMux(a.reg, a.readiness, a.logger, ops.WithPprof(cfg.Pprof)),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       cfg.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
		}
	}

	probeCtx, stopProbes := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProbes()
	go a.readiness.Run(probeCtx)

	filesCtx, stopFiles := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFiles()
	filesDone := make(chan error, 1)
	go func() { filesDone <- ops.ListenAndServe(filesCtx, srv, ln, cfg.ShutdownTimeout, a.logger) }()
	metricsCtx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMetrics()
	metricsDone := make(chan error, 1)
	metricsAddr := ""
	if msrv != nil {
		metricsAddr = mln.Addr().String()
		go func() { metricsDone <- ops.ListenAndServe(metricsCtx, msrv, mln, 5*time.Second, a.logger) }()
	} else {
		metricsDone <- nil
	}
	if err := ops.Notify(notifySocket, ops.NotifyReady); err != nil {
		a.logger.Warn("sd_notify", "err", err)
	}
	if ready != nil {
		ready(ln.Addr().String(), metricsAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-filesDone:
		filesDone <- runErr
	}
	a.readiness.SetStopping()
	if err := ops.Notify(notifySocket, ops.NotifyStopping); err != nil {
		a.logger.Warn("sd_notify", "err", err)
	}
	if cfg.DrainDelay > 0 && runErr == nil {
		a.logger.Info("draining: readiness is stopping, still serving", "for", cfg.DrainDelay)
		time.Sleep(cfg.DrainDelay)
	}
	stopFiles()
	if err := <-filesDone; err != nil && runErr == nil {
		runErr = err
	}
	// Requests still running after the drain (their connections were cut) stop their lookups,
	// pauses and reads now.
	a.files.Close()
	stopMetrics()
	if err := <-metricsDone; err != nil && runErr == nil {
		runErr = err
	}
	stopProbes()
	a.Close(context.Background())
	return runErr
}

// listenOr returns ln if the caller bound it already, else binds addr.
func listenOr(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	return net.Listen("tcp", addr)
}
