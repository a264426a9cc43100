package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
)

// importFlags are the import subcommand's own flags; everything else is a daemon setting.
type importFlags struct {
	dir          string // directory below the eZ root to walk
	createSchema bool   // CREATE TABLE IF NOT EXISTS on MySQL first
}

// splitImportFlags takes --dir and --create-schema out of args.
func splitImportFlags(args []string) (importFlags, []string, error) {
	dir, args, err := takeDir(args, "var")
	if err != nil {
		return importFlags{}, nil, err
	}
	f := importFlags{dir: dir}
	var rest []string
	for _, a := range args {
		if a == "--create-schema" || a == "-create-schema" {
			f.createSchema = true
			continue
		}
		rest = append(rest, a)
	}
	return f, rest, nil
}

// takeDir takes the --dir flag (import's and demo's own, not a daemon setting) out of args,
// in any of the forms --dir D, -dir D, --dir=D and -dir=D, and returns its value (def if absent)
// and the other arguments.
func takeDir(args []string, def string) (string, []string, error) {
	dir := def
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--dir" || a == "-dir":
			if i+1 >= len(args) {
				return "", nil, fmt.Errorf("--dir needs a value")
			}
			dir = args[i+1]
			i++
		case strings.HasPrefix(a, "--dir=") || strings.HasPrefix(a, "-dir="):
			dir = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return dir, rest, nil
}

// runImport is clusterize.php: rows into ezdfsfile, bytes to the dispatched backend.
func runImport(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, rest, err := splitImportFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd import: %v\n", err)
		return 2
	}
	return withConfig("import", rest, environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
		root := cfg.EZRoot
		if cfg.ProjectRoot != "" && root == "" {
			// Ibexa's local files live under the web root: io.root_dir is
			// %webroot_dir%/$var_dir$/$storage_dir$, webroot_dir %kernel.project_dir%/public
			// (ibexa/core @b9295936 src/bundle/Core/Resources/config/default_settings.yml:3, 107).
			root = filepath.Join(cfg.ProjectRoot, "public")
		}
		if root == "" {
			root = "."
		}
		rep, err := daemon.Import(ctx, cfg, logger, root, flags.dir, flags.createSchema)
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
