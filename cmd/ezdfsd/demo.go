package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/demo"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// runDemo generates sample files in a directory that acts as eZ root and mount point, imports
// them into an embedded SQLite store and serves them with the normal serve path.
func runDemo(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	dir, rest, err := takeDir(args, "ezdfsd-demo")
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd demo: %v\n", err)
		return 2
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd demo: %v\n", err)
		return 1
	}
	defaults := []string{
		"--metadata=sqlite",
		"--sqlite=" + filepath.Join(abs, "ezdfsd.sqlite"),
		"--mount-point=" + abs,
		"--served-by=ezdfsd-demo",
	}
	return withConfig("demo", append(defaults, rest...), environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
		samples, err := demo.Generate(abs)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd demo: %v\n", err)
			return 1
		}
		rep, err := daemon.Import(ctx, cfg, logger, abs, "var", false)
		if err == nil {
			err = markDeleted(ctx, cfg, samples)
		}
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd demo: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "ezdfsd demo: files in %s, metadata in %s (%s)\n", abs, cfg.SQLitePath, rep)
		return serveWith(ctx, cfg, environ, logger, func(files, metrics string) {
			printDemoURLs(stdout, files, metrics, samples)
		})
	})
}

// markDeleted gives deleted samples the negative mtime eZ leaves behind after a delete.
func markDeleted(ctx context.Context, cfg *config.Config, samples []demo.Sample) error {
	store, err := daemon.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer store.Close()
	for _, s := range samples {
		if !s.Deleted {
			continue
		}
		key := metadata.Key{Table: cfg.Tables().For(s.Name), Name: s.Name}
		row, err := store.Lookup(ctx, key)
		if err != nil {
			return fmt.Errorf("demo row %s: %w", s.Name, err)
		}
		if row.MTime > 0 {
			row.MTime = -row.MTime
		}
		row.Expired = true
		if err := store.Put(ctx, key.Table, row); err != nil {
			return err
		}
	}
	return nil
}

func printDemoURLs(w io.Writer, files, metrics string, samples []demo.Sample) {
	base := "http://" + files
	fmt.Fprintf(w, "\nezdfsd is serving on %s — open these in a browser or with curl -i:\n\n", base)
	for _, s := range samples {
		u := (&url.URL{Path: "/" + s.Name}).EscapedPath()
		fmt.Fprintf(w, "  %d  %s%s\n       %s\n", s.Status, base, u, s.Note)
	}
	fmt.Fprintf(w, "\nTry: curl -i -H 'Range: bytes=0-99' %s/%s\n", base, samples[1].Name)
	if metrics != "" {
		fmt.Fprintf(w, "Metrics: http://%s/metrics   health: http://%s/healthz   readiness: http://%s/readyz\n", metrics, metrics, metrics)
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}
