package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/importer"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
)

// Import is clusterize.php: it opens the metadata store and every dispatched backend, then
// imports every file below root/dir (see importer.Importer). SQLite schemas are always created;
// MySQL ones only with createSchema.
func Import(ctx context.Context, cfg *config.Config, logger *slog.Logger, root, dir string, createSchema bool) (importer.Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, logger: logger}
	defer a.Close(context.Background())
	store, err := a.openStore(ctx)
	if err != nil {
		return importer.Report{}, err
	}
	if createSchema || cfg.Metadata == "sqlite" {
		if err := store.CreateSchema(ctx); err != nil {
			return importer.Report{}, err
		}
	}
	if _, err := a.openStorage(ctx); err != nil {
		return importer.Report{}, err
	}
	targets := map[string]importer.Target{}
	for class, b := range a.backends {
		w, ok := b.(storage.Writer)
		if !ok {
			return importer.Report{}, fmt.Errorf("backend %s cannot store files", class)
		}
		t := importer.Target{Writer: w, Backend: b}
		if mp, ok := b.(*mountpoint.MountPoint); ok {
			t.SameFile = sameFileUnder(mp.Root())
		}
		targets[class] = t
	}
	im := &importer.Importer{
		Rows:     store,
		Existing: store,
		Targets:  targets,
		Tables:   cfg.Tables(),
		Dispatch: cfg.Dispatch(),
		Profile:  cfg.Profile,
		Logger:   a.logger,
	}
	return im.Run(ctx, root, dir)
}

// sameFileUnder reports whether root/name is the very file at srcPath (importing a var/
// directory that already lives on the mount point: nothing to copy).
func sameFileUnder(root string) func(name, srcPath string) bool {
	return func(name, srcPath string) bool {
		dst, err := os.Stat(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			return false
		}
		src, err := os.Stat(srcPath)
		return err == nil && os.SameFile(dst, src)
	}
}
