package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/migrate"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// Migrate is what `ezdfsd migrate` works on: the metadata store, the target dispatch rules, and
// both backends when configured (the source need not be one the rules choose).
type Migrate struct {
	// Store is the metadata store.
	Store *sqlstore.Store
	// Tables and Dispatch are the configured table split and the target dispatch rules.
	Tables   dfs.Tables
	Dispatch dfs.Dispatch
	// Backends maps eZ backend class names to the backends configured: the mount point when
	// a mount point is set, the bucket when a bucket is set.
	Backends map[string]migrate.Backend
	// Bucket is the S3 backend (nil without a bucket), for setting its ACL.
	Bucket *migrate.S3Backend

	app *App
}

// OpenMigrate opens the metadata store, the mount point (when set) and the bucket (when set) of
// cfg. It contacts no S3 server; Close releases everything. Only the legacy profile's object
// keys (key = name) are written, so the platform profile is refused.
func OpenMigrate(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*Migrate, error) {
	if cfg.Profile == dfs.ProfilePlatform {
		return nil, fmt.Errorf("migrate writes the legacy S3 backend's keys (key = name); profile %q keys differ", cfg.Profile)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, logger: logger}
	m := &Migrate{Tables: cfg.Tables(), Dispatch: cfg.Dispatch(), Backends: map[string]migrate.Backend{}, app: a}
	store, err := a.openStore(ctx)
	if err != nil {
		a.Close(ctx)
		return nil, err
	}
	m.Store = store
	if cfg.MountPoint != "" {
		mb, err := migrate.OpenMountBackend(cfg.MountPoint)
		if err != nil {
			a.Close(ctx)
			return nil, err
		}
		a.onClose(func(context.Context) error { return mb.Close() })
		m.Backends[dfs.MountPointBackend] = mb
	}
	if cfg.S3.Bucket != "" {
		b, err := s3.New(ctx, s3Config(cfg), nil, logger)
		if err != nil {
			a.Close(ctx)
			return nil, fmt.Errorf("s3 backend: %w", err)
		}
		m.Bucket = &migrate.S3Backend{S3: b}
		m.Backends[dfs.S3Backend] = m.Bucket
	}
	for _, class := range m.Dispatch.Backends() {
		if m.Backends[class] == nil {
			a.Close(ctx)
			switch class {
			case dfs.MountPointBackend:
				return nil, fmt.Errorf("the target rules send files to the mount point (%s) but no mount point is set (--mount-point, CLUSTER_MOUNT_POINT_PATH or file.ini MountPointPath)", class)
			case dfs.S3Backend:
				return nil, fmt.Errorf("the target rules send files to S3 (%s) but no bucket is set (--s3-bucket or dfsamazons3.ini Bucket)", class)
			}
			return nil, fmt.Errorf("unknown DFS backend class %q (ezdfsd migrates to %s and %s)", class, dfs.MountPointBackend, dfs.S3Backend)
		}
	}
	return m, nil
}

// Close releases the store and the backends.
func (m *Migrate) Close() { m.app.Close(context.Background()) }
