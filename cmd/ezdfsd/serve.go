package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
)

// runServe runs the daemon until ctx is done (SIGTERM/SIGINT).
func runServe(ctx context.Context, cfg *config.Config, environ []string, logger *slog.Logger) int {
	return serveWith(ctx, cfg, environ, logger, nil)
}

// serveWith is runServe with a hook called once the listeners are bound (used by demo). A
// failure before serving (building a component, binding a listener) exits 2 like any other
// configuration error; a database or S3 endpoint that is down is not one: the daemon starts,
// and /readyz says what it waits for.
func serveWith(ctx context.Context, cfg *config.Config, environ []string, logger *slog.Logger, ready func(files, metrics string)) int {
	a, err := daemon.New(ctx, cfg, logger, displayVersion())
	if err != nil {
		logger.Error("cannot start", "err", err, "hint", "ezdfsd config shows every setting and where it came from")
		return 2
	}
	defer a.Close(context.Background()) // Run closes it too; this covers an early return
	logger.Info("ezdfsd starting", "version", displayVersion(), "metadata", cfg.Metadata,
		"backends", strings.Join(cfg.Dispatch().Backends(), ","), "ez_root", cfg.EZRoot)
	if err := a.Run(ctx, lookupEnv(environ, "NOTIFY_SOCKET"), ready); err != nil {
		if name, ok := listenSetting(cfg, err); ok {
			logger.Error("cannot start", "err", cfg.SettingError(name, unwrapOpError(err)))
			return 2
		}
		logger.Error("stopped with error", "err", err)
		return 1
	}
	logger.Info("ezdfsd stopped")
	return 0
}

// listenSetting tells which listen setting a failure to bind comes from.
func listenSetting(cfg *config.Config, err error) (string, bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "listen" {
		return "", false
	}
	if cfg.MetricsListen != "" && strings.Contains(err.Error(), "(metrics)") {
		return "metrics-listen", true
	}
	return "listen", true
}

// unwrapOpError keeps the cause of a net.OpError ("address already in use"), whose address the
// setting error shows anyway.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
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
