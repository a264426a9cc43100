// Command profserve runs the real ezdfsd daemon (daemon.New + App.Run, exactly what `ezdfsd serve`
// runs) with one addition for profiling: the operations mux with /debug/pprof on -pprof ADDR.
// ezdfsd itself has no pprof setting; this keeps profiling out of the product.
//
//	profserve -pprof 127.0.0.1:6060 --listen=127.0.0.1:8081 --metadata=mysql ...
//
// Every argument after -pprof ADDR is an `ezdfsd serve` setting.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) < 2 || args[0] != "-pprof" {
		return errors.New("usage: profserve -pprof ADDR [ezdfsd serve settings...]")
	}
	pprofAddr := args[1]
	cfg, err := config.Load(args[2:], nil)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, err := ops.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	a, err := daemon.New(ctx, cfg, logger, "profserve")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ops.NewMux(a.Registry(), a.Readiness(), logger, ops.WithPprof(true)), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return a.Run(ctx, "", func(files, metrics string) {
		logger.Info("profserve ready", "files", files, "metrics", metrics, "pprof", ln.Addr().String())
	})
}
