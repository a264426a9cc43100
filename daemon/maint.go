package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/maint"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// Maint is what the maintenance commands (fsck, purge) work on: the metadata store, the table
// and dispatch rules, and every backend the rules can choose, as maint.Bytes.
type Maint struct {
	// Store is the metadata store.
	Store *sqlstore.Store
	// Tables and Dispatch are the configured table split and dispatch rules.
	Tables   dfs.Tables
	Dispatch dfs.Dispatch
	// Backends maps eZ backend class names to their bytes.
	Backends map[string]maint.Bytes
	// MountPoint is the mount point's directory ("" when no rule uses it).
	MountPoint string
	// Bucket is the S3 backend ("" / nil when no rule uses it).
	Bucket *s3.S3

	app *App
}

// OpenMaint opens the metadata store and the backends of cfg for a maintenance command. It
// contacts nothing; Close releases everything.
func OpenMaint(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*Maint, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, logger: logger}
	m := &Maint{Tables: cfg.Tables(), Dispatch: cfg.Dispatch(), Backends: map[string]maint.Bytes{}, app: a}
	store, err := a.openStore(ctx)
	if err != nil {
		a.Close(ctx)
		return nil, err
	}
	m.Store = store
	for _, class := range m.Dispatch.Backends() {
		switch class {
		case dfs.MountPointBackend:
			if cfg.MountPoint == "" {
				a.Close(ctx)
				return nil, errors.New("files are dispatched to the mount point (eZDFSFileHandlerDFSBackend) but no mount point is set (--mount-point, CLUSTER_MOUNT_POINT_PATH or file.ini MountPointPath)")
			}
			mp, err := maint.OpenMountPoint(cfg.MountPoint)
			if err != nil {
				a.Close(ctx)
				return nil, err
			}
			a.onClose(func(context.Context) error { return mp.Close() })
			m.Backends[class] = mp
			m.MountPoint = cfg.MountPoint
		case dfs.S3Backend:
			b, err := s3.New(ctx, s3Config(cfg), nil, logger)
			if err != nil {
				a.Close(ctx)
				return nil, fmt.Errorf("s3 backend: %w", err)
			}
			m.Backends[class] = b
			m.Bucket = b
		default:
			a.Close(ctx)
			return nil, fmt.Errorf("unknown DFS backend class %q (ezdfsd serves %s and %s)", class, dfs.MountPointBackend, dfs.S3Backend)
		}
	}
	return m, nil
}

// Close releases the store and the backends.
func (m *Maint) Close() { m.app.Close(context.Background()) }
