package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/importer"
	"github.com/ezdfsd/ezdfsd/ops"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
)

// importFlags are the import subcommand's own flags; everything else is a daemon setting.
type importFlags struct {
	dir          string // directory below the eZ root to walk
	createSchema bool   // CREATE TABLE IF NOT EXISTS on MySQL first
}

// splitImportFlags takes --dir and --create-schema out of args.
func splitImportFlags(args []string) (importFlags, []string, error) {
	f := importFlags{dir: "var"}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--dir" || a == "-dir":
			if i+1 >= len(args) {
				return f, nil, fmt.Errorf("--dir needs a value")
			}
			f.dir = args[i+1]
			i++
		case strings.HasPrefix(a, "--dir=") || strings.HasPrefix(a, "-dir="):
			f.dir = a[strings.IndexByte(a, '=')+1:]
		case a == "--create-schema" || a == "-create-schema":
			f.createSchema = true
		default:
			rest = append(rest, a)
		}
	}
	return f, rest, nil
}

// runImport is clusterize.php: rows into ezdfsfile, bytes to the dispatched backend.
func runImport(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, rest, err := splitImportFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd import: %v\n", err)
		return 2
	}
	return withConfig("import", rest, environ, stdout, stderr, func(cfg *config.Config) int {
		logger, err := ops.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel.String())
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd import: %v\n", err)
			return 2
		}
		root := cfg.EZRoot
		if root == "" {
			root = "."
		}
		rep, err := importTree(ctx, cfg, logger, root, flags)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd import: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "ezdfsd import: %s/%s: %s\n", root, flags.dir, rep)
		if rep.Failed > 0 {
			return 1
		}
		return 0
	})
}

// importTree opens the metadata store and every dispatched backend, then walks root/dir.
func importTree(ctx context.Context, cfg *config.Config, logger *slog.Logger, root string, flags importFlags) (importer.Report, error) {
	a := &app{cfg: cfg, logger: logger}
	defer a.close(context.Background())
	store, err := a.openStore(ctx)
	if err != nil {
		return importer.Report{}, err
	}
	if flags.createSchema || cfg.Metadata == "sqlite" {
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
		Logger:   a.logger,
	}
	return im.Run(ctx, root, flags.dir)
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
