package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/demo"
	"github.com/ezdfsd/ezdfsd/importer"
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
		// Bind first: a taken port must fail now, not after 64 MiB of samples are written.
		files, metrics, err := bindDemo(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd demo: %v\n", err)
			return 2
		}
		defer files.Close()
		if metrics != nil {
			defer metrics.Close()
		}
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
		fmt.Fprintf(stdout, "ezdfsd demo: %d sample files in %s\n", len(samples), abs)
		fmt.Fprintf(stdout, "ezdfsd demo: their metadata rows in %s (%s)\n", cfg.SQLitePath, importSummary(rep))
		return serveDemo(ctx, cfg, logger, files, metrics, samples, stdout)
	})
}

// bindDemo binds the file and metrics listeners the configuration names. A taken port is
// reported with the setting that chose it and how to pick another.
func bindDemo(cfg *config.Config) (files, metrics net.Listener, err error) {
	files, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, listenError(cfg, "listen", cfg.Listen, err)
	}
	if cfg.MetricsListen == "" {
		return files, nil, nil
	}
	metrics, err = net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		files.Close()
		return nil, nil, listenError(cfg, "metrics-listen", cfg.MetricsListen, err)
	}
	return files, metrics, nil
}

// listenError explains a failed bind: which setting, where its value came from, and the way out.
func listenError(cfg *config.Config, setting, addr string, err error) error {
	why := err.Error()
	if errors.Is(err, syscall.EADDRINUSE) {
		why = "the port is already in use (is another ezdfsd demo running?)"
	}
	return fmt.Errorf("cannot listen on %s (--%s, from %s): %s\n"+
		"Stop whatever holds it, or give the demo other ports, e.g.: ezdfsd demo --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 (0 = any free port)",
		addr, setting, cfg.Source(setting), why)
}

// serveDemo runs the daemon on the bound listeners, with the demo's page at "/", and prints
// where to click once it serves.
func serveDemo(ctx context.Context, cfg *config.Config, logger *slog.Logger, files, metrics net.Listener, samples []demo.Sample, stdout io.Writer) int {
	a, err := daemon.New(ctx, cfg, logger, displayVersion())
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	metricsAddr := ""
	if metrics != nil {
		metricsAddr = metrics.Addr().String()
	}
	a.WrapHandler(func(h fasthttp.RequestHandler) fasthttp.RequestHandler {
		return demo.WithPage(h, samples, metricsAddr)
	})
	a.UseListeners(files, metrics)
	logger.Info("ezdfsd starting", "version", displayVersion(), "metadata", cfg.Metadata, "mount_point", cfg.MountPoint)
	err = a.Run(ctx, "", func(filesAddr, metricsAddr string) {
		printDemoURLs(stdout, filesAddr, metricsAddr, samples)
	})
	if err != nil {
		logger.Error("stopped with error", "err", err)
		return 1
	}
	logger.Info("ezdfsd stopped")
	return 0
}

// importSummary says in words what the import did.
func importSummary(rep importer.Report) string {
	s := fmt.Sprintf("%d imported, %s", rep.Imported, mib(rep.Bytes))
	if rep.Unchanged > 0 {
		s += fmt.Sprintf("; %d unchanged since the last run", rep.Unchanged)
	}
	if rep.Skipped > 0 {
		s += fmt.Sprintf("; %d skipped", rep.Skipped)
	}
	if rep.Failed > 0 {
		s += fmt.Sprintf("; %d FAILED (see the log above)", rep.Failed)
	}
	return s
}

// mib renders a byte count for people.
func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
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

// printDemoURLs tells a terminal user where to click: the page at "/", then every sample with
// the status it should get.
func printDemoURLs(w io.Writer, files, metrics string, samples []demo.Sample) {
	base := "http://" + files
	fmt.Fprintf(w, "\nezdfsd is serving the demo. Open %s/ in a browser: it lists every sample below.\n\n", base)
	fmt.Fprintln(w, "  expected answer   URL")
	for _, s := range samples {
		fmt.Fprintf(w, "  %d %-13s %s%s\n                    %s\n", s.Status, http.StatusText(s.Status), base, s.Path(), s.Note)
	}
	fmt.Fprintf(w, "\nA partial answer (206): curl -i -H 'Range: bytes=0-99' %s%s\n", base, samples[1].Path())
	if metrics != "" {
		fmt.Fprintf(w, "Metrics: http://%s/metrics   health: http://%s/healthz   readiness: http://%s/readyz\n", metrics, metrics, metrics)
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}
