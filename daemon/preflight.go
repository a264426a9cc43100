package daemon

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/preflight"
)

// Preflight opens the metadata store, caches and storage backends as New does and returns what
// `ezdfsd check` runs: the very readiness checks the daemon would probe, the store to sample
// rows from and look them up in (without caches, so a cache cannot hide the database), and the
// backends. A mount point that cannot be opened is a failing check rather than an error. The
// returned function closes everything. Errors are configuration errors (a malformed DSN, an
// unknown backend class).
func Preflight(ctx context.Context, cfg *config.Config, logger *slog.Logger) (preflight.Setup, func(), error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A private registry: the caches and backends register their metrics; nothing serves them.
	a := &App{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), lenient: true}
	closeAll := func() { a.Close(context.Background()) }
	checks, err := a.openMetadata(ctx)
	if err != nil {
		closeAll()
		return preflight.Setup{}, nil, err
	}
	storageChecks, err := a.openStorage(ctx)
	if err != nil {
		closeAll()
		return preflight.Setup{}, nil, err
	}
	return preflight.Setup{
		Checks:   append(checks, storageChecks...),
		Rows:     a.store,
		Meta:     a.store,
		Backends: a.backends,
		Tables:   cfg.Tables(),
		Dispatch: cfg.Dispatch(),
	}, closeAll, nil
}
