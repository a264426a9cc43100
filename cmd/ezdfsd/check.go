package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/preflight"
)

// runCheck is `ezdfsd check`: the readiness checks once, plus a few sampled rows read through
// their backend, printed as a table. Exit 0: all pass; 1: something fails; 2: configuration.
func runCheck(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return withConfig("check", args, environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
		setup, closeAll, err := daemon.Preflight(ctx, cfg, logger)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd check: %v\n", err)
			return 2
		}
		defer closeAll()
		rep := preflight.Run(ctx, setup)
		if err := rep.WriteTable(stdout); err != nil {
			fmt.Fprintf(stderr, "ezdfsd check: %v\n", err)
			return 1
		}
		if n := rep.Failures(); n > 0 {
			fmt.Fprintf(stdout, "\nezdfsd check: %d problem(s); ezdfsd would not serve everything\n", n)
			return 1
		}
		fmt.Fprintln(stdout, "\nezdfsd check: all checks passed")
		return 0
	})
}
