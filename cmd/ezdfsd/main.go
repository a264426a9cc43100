// Command ezdfsd serves eZ Publish cluster (eZDFS) files — the images and caches that
// index_cluster.php serves — from the ezdfsfile metadata table and an NFS mount point or S3 bucket.
//
//	ezdfsd demo                       serve generated sample files (embedded SQLite, local dir)
//	ezdfsd serve --ez-root DIR        serve an existing eZ install's cluster
//	ezdfsd import --ez-root DIR       write ezdfsfile rows and copy bytes (clusterize.php)
//	ezdfsd config --ez-root DIR       print the effective configuration and its sources
//	ezdfsd healthcheck [--url URL]    probe /healthz (for container HEALTHCHECKs)
//	ezdfsd version
//
// main only parses the subcommand and wires components; every behaviour lives in a package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/ops"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	// SIGHUP does not reload (restart instead) and must not kill the daemon either, as its
	// default action would when a terminal closes or a log rotator sends it.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `ezdfsd serves eZ Publish cluster (eZDFS) files: a drop-in replacement for index_cluster.php.

Usage:
  ezdfsd demo [--dir DIR] [settings]   generate sample files and serve them (no database or S3 needed)
  ezdfsd serve [settings]              serve cluster files (e.g. --ez-root /var/www/ezpublish_legacy)
  ezdfsd import [--dir var] [settings] import files below the eZ root into the cluster (like clusterize.php)
  ezdfsd config [settings]             print the effective configuration, where each value came from
  ezdfsd check [settings]              check the database tables, mount point and buckets, read a few files
  ezdfsd healthcheck [--url URL]       exit 0 if the health endpoint answers 200
  ezdfsd compare --reference URL ...   check that ezdfsd answers a site's URLs as index_cluster.php
  ezdfsd fsck [--repair] [settings]    compare rows with the files and objects; report (and fix)
  ezdfsd purge [--dry-run] [settings]  remove deleted files (expired rows and their bytes) for good
  ezdfsd version                       print the version

Settings are the same for serve, demo, import and config; "ezdfsd serve --help" lists them all
with their environment variables (EZDFSD_*). Precedence: flags > environment > --config file >
the eZ install's own settings (--ez-root) > defaults.
`

// run executes one subcommand and returns the process exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return withConfig(cmd, rest, environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
			return runServe(ctx, cfg, environ, logger)
		})
	case "demo":
		return runDemo(ctx, rest, environ, stdout, stderr)
	case "import":
		return runImport(ctx, rest, environ, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, environ, stdout, stderr)
	case "config":
		return withConfig(cmd, rest, environ, stdout, stderr, func(cfg *config.Config, _ *slog.Logger) int {
			cfg.Dump(stdout)
			return 0
		})
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, stdout, stderr)
	case "purge":
		return runPurge(ctx, rest, environ, stdout, stderr)
	case "fsck":
		return runFsck(ctx, rest, environ, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "ezdfsd", displayVersion())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		// The command line contract (issue 2): `ezdfsd --help` lists every setting with its
		// environment variable, as `ezdfsd serve --help` does.
		sub := "serve"
		if len(rest) > 0 {
			sub = rest[0]
		}
		fmt.Fprintln(stdout)
		config.Usage(stdout, sub)
		return 0
	default:
		fmt.Fprintf(stderr, "ezdfsd: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// withConfig loads and validates the configuration for a subcommand, answering --help and
// reporting configuration errors (exit 2), then runs fn.
func withConfig(cmd string, args, environ []string, stdout, stderr io.Writer, fn func(*config.Config, *slog.Logger) int) int {
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		config.Usage(stdout, cmd)
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd %s: %v\n(see: ezdfsd %s --help)\n", cmd, err, cmd)
		return 2
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "ezdfsd %s: warning: %s\n", cmd, w)
	}
	var logOpts []ops.LoggerOption
	if cmd == "import" { // one line per failed file, as the importer promises: no rate limit
		logOpts = append(logOpts, ops.WithRepeatInterval(0))
	}
	logger, err := ops.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel, logOpts...)
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd %s: %v\n", cmd, err)
		return 2
	}
	sqlstore.SetDriverLogger(logger) // the MySQL driver's own lines, too, in the chosen format
	return fn(cfg, logger)
}

func displayVersion() string {
	if version != "" {
		return version
	}
	return "dev"
}
