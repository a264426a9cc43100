package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
)

// runServe runs the daemon until ctx is done (SIGTERM/SIGINT).
func runServe(ctx context.Context, cfg *config.Config, environ []string, logger *slog.Logger) int {
	return serveWith(ctx, cfg, environ, logger, nil)
}

// serveWith is runServe with a hook called once the listeners are bound (used by demo).
func serveWith(ctx context.Context, cfg *config.Config, environ []string, logger *slog.Logger, ready func(files, metrics string)) int {
	a, err := daemon.New(ctx, cfg, logger, displayVersion())
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	logger.Info("ezdfsd starting", "version", displayVersion(), "metadata", cfg.Metadata,
		"backends", strings.Join(cfg.Dispatch().Backends(), ","), "ez_root", cfg.EZRoot)
	if err := a.Run(ctx, lookupEnv(environ, "NOTIFY_SOCKET"), ready); err != nil {
		logger.Error("stopped with error", "err", err)
		return 1
	}
	logger.Info("ezdfsd stopped")
	return 0
}

// lookupEnv finds KEY in an os.Environ-style list.
func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
