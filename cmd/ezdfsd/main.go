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
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/ops"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3". Without it the version comes
// from the build information the go command embeds (module version, VCS revision).
var version = ""

// readBuildInfo is debug.ReadBuildInfo; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

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
  ezdfsd migrate [--from mount|s3] ... copy files to the backends new dispatch settings choose, verified
  ezdfsd version                       print the version and the VCS revision it was built from

"ezdfsd COMMAND --help" describes a command, its own flags and the settings. Settings are the
same for serve, demo, import and config, with their environment variables (EZDFSD_*).
Precedence: flags > environment > --config file > the eZ install's own settings (--ez-root) > defaults.
`

// command describes a subcommand for its --help and its flag suggestions.
type command struct {
	// summary is what the command does, first in its --help.
	summary string
	// synopsis is the usage line after "ezdfsd ".
	synopsis string
	// flags are the command's own flags (not settings), listed before the settings.
	flags []ownFlag
	// settings reports that the command takes the shared settings.
	settings bool
	// text, when set, is the whole help before the settings, instead of summary, synopsis
	// and flags (for commands whose flags are better explained in prose).
	text string
}

// ownFlag is one flag of a command that is not a setting.
type ownFlag struct{ name, metavar, help string }

var commands = map[string]command{
	"serve": {
		summary: "Serve eZ Publish cluster files over HTTP as index_cluster.php does: rows from the ezdfsfile\n" +
			"table (MySQL/MariaDB), bytes from the NFS mount point or S3. It reads the eZ install's own cluster\n" +
			"settings with --ez-root; every setting below can also be given directly.",
		synopsis: "serve [settings]    e.g. ezdfsd serve --ez-root /var/www/ezpublish_legacy",
		settings: true,
	},
	"demo": {
		summary: "Generate sample eZ files in DIR, load their rows into an embedded SQLite database there and\n" +
			"serve them: a trial with no MySQL, NFS or S3. It prints one URL per sample.",
		synopsis: "demo [--dir DIR] [settings]",
		flags:    []ownFlag{{"dir", "DIR", `directory for the sample files and the SQLite database (default "ezdfsd-demo")`}},
		settings: true,
	},
	"import": {
		summary: "Import the files below a directory of the eZ install into the cluster, like eZ's\n" +
			"bin/php/clusterize.php: one ezdfsfile row per file, bytes copied to the backend the dispatch\n" +
			"rules choose. Re-running it is safe.",
		synopsis: "import --ez-root DIR [--dir var] [--create-schema] [settings]",
		flags: []ownFlag{
			{"dir", "DIR", `directory to import, relative to the eZ root (default "var")`},
			{"create-schema", "", "create the ezdfsfile tables first if they do not exist (MySQL; SQLite always gets them)"},
		},
		settings: true,
	},
	"config": {
		summary: "Print the effective configuration in config file syntax, each value preceded by where it\n" +
			"came from (ez:config.php:12, env:EZDFSD_DB_HOST, flag:--listen, default); secrets are redacted.\n" +
			"Problems are reported after it (exit status 2).",
		synopsis: "config [settings]",
		settings: true,
	},
	"check": {
		summary: "Check once what serving needs: the database and each metadata table with the columns ezdfsd\n" +
			"reads, the mount point, the S3 buckets; then look up a few live rows per table and backend and\n" +
			"read their bytes. Prints a table (check, result, reason, fix); exit 0 all pass, 1 a check failed,\n" +
			"2 configuration error.",
		synopsis: "check [settings]    e.g. ezdfsd check --ez-root /var/www/ezpublish_legacy",
		settings: true,
	},
	"compare": {
		summary: "Send the same requests (GET, HEAD, If-None-Match and If-Modified-Since with the reference's\n" +
			"validators, Range bytes=0-99 and bytes=0-0, HEAD with Range) to index_cluster.php (reference)\n" +
			"and ezdfsd (candidate), and compare status, ETag, Last-Modified, Content-Type, Content-Length,\n" +
			"Content-Range and the body's SHA-256. Differences listed in the README's \"Differences from\n" +
			"index_cluster.php\" table are reported as documented. Exit status: 0 no undocumented\n" +
			"difference, 1 undocumented differences (or the run failed), 2 usage error.",
		synopsis: "compare --reference URL --candidate URL [--urls FILE|-] [--from-access-log FILE] [flags]",
	},
	"fsck":    {text: fsckHelp, settings: true},
	"purge":   {text: purgeHelp, settings: true},
	"migrate": {text: migrateHelp, settings: true},
	"healthcheck": {
		summary:  "Probe the health endpoint; exit 0 if it answers 200 (for container HEALTHCHECKs).",
		synopsis: "healthcheck [--url URL] [--timeout DURATION]",
		flags: []ownFlag{
			{"url", "URL", `health endpoint to probe (default "http://127.0.0.1:9181/healthz")`},
			{"timeout", "DURATION", `give up after this long (default 3s)`},
		},
	},
	"version": {
		summary:  "Print the version and the VCS revision ezdfsd was built from (\"+dirty\": with uncommitted changes).",
		synopsis: "version",
	},
}

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
		return runConfig(rest, environ, stdout, stderr)
	case "healthcheck":
		if wantsHelp(rest) {
			commandHelp(stdout, cmd)
			return 0
		}
		return runHealthcheck(ctx, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, stdout, stderr)
	case "purge":
		return runPurge(ctx, rest, environ, stdout, stderr)
	case "fsck":
		return runFsck(ctx, rest, environ, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, environ, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "ezdfsd", longVersion())
		return 0
	case "help", "-h", "-help", "--help":
		// The command line contract (issue 2): `ezdfsd --help` lists every setting with its
		// environment variable, as `ezdfsd serve --help` does.
		sub := "serve"
		if len(rest) > 0 {
			sub = rest[0]
		}
		if _, ok := commands[sub]; !ok {
			fmt.Fprintf(stderr, "ezdfsd help: unknown command %q%s\n\n%s", sub, suggestCommand(sub), usage)
			return 2
		}
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout)
		commandHelp(stdout, sub)
		return 0
	default:
		fmt.Fprintf(stderr, "ezdfsd: unknown command %q%s\n\n%s", cmd, suggestCommand(cmd), usage)
		return 2
	}
}

// wantsHelp reports whether args ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// commandHelp writes `ezdfsd CMD --help`: what the command does, its usage line, its own flags,
// then the shared settings.
func commandHelp(w io.Writer, name string) {
	c := commands[name]
	if c.text != "" {
		fmt.Fprint(w, c.text)
		if c.settings {
			config.Usage(w, name)
		}
		return
	}
	fmt.Fprintf(w, "ezdfsd %s: %s\n\nUsage: ezdfsd %s\n", name, c.summary, c.synopsis)
	if len(c.flags) > 0 {
		fmt.Fprintf(w, "\nFlags of %s:\n", name)
		for _, f := range c.flags {
			fmt.Fprintf(w, "  --%s\n        %s\n", strings.TrimSpace(f.name+" "+f.metavar), f.help)
		}
	}
	if c.settings {
		fmt.Fprintln(w)
		config.Usage(w, name)
	}
}

// suggestCommand proposes the command a mistyped one probably meant.
func suggestCommand(name string) string {
	names := make([]string, 0, len(commands))
	for c := range commands {
		names = append(names, c)
	}
	slices.Sort(names)
	if best := config.Closest(name, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// loadConfig loads the configuration for a subcommand. It answers --help (done true, code 0)
// and reports errors, with the warnings that led to them (done true, code 2).
func loadConfig(cmd string, args, environ []string, stdout, stderr io.Writer) (cfg *config.Config, code int, done bool) {
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		commandHelp(stdout, cmd)
		return nil, 0, true
	}
	var unknown *config.UnknownFlagError
	if errors.As(err, &unknown) {
		var own []string
		for _, f := range commands[cmd].flags {
			own = append(own, f.name)
		}
		unknown.Suggestion = config.SuggestFlag(unknown.Name, own...)
		err = fmt.Errorf("config: %w", unknown) // err's text was formatted before the suggestion changed
	}
	if err != nil {
		configError(stderr, cmd, err)
		return nil, 2, true
	}
	return cfg, 0, false
}

// checkConfig validates cfg and checks its paths (unless checkPaths is false). A configuration
// error already carries the warnings met while reading the settings; otherwise they are printed
// here.
func checkConfig(cfg *config.Config, cmd string, checkPaths bool, stderr io.Writer) error {
	err := cfg.Validate()
	if err == nil && checkPaths {
		err = cfg.CheckPaths()
	}
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "ezdfsd %s: warning: %s\n", cmd, w)
	}
	return nil
}

// configError reports a configuration error; the caller exits 2.
func configError(stderr io.Writer, cmd string, err error) {
	fmt.Fprintf(stderr, "ezdfsd %s: %v\n(see: ezdfsd %s --help; ezdfsd config shows every value and where it came from)\n", cmd, err, cmd)
}

// withConfig loads, validates and checks the configuration for a subcommand, answering --help
// and reporting configuration errors (exit 2), then runs fn. The paths the configuration names
// (mount point, SQLite directory) are checked too, except for demo, which creates them, and
// check, which reports them in its table with the other checks.
func withConfig(cmd string, args, environ []string, stdout, stderr io.Writer, fn func(*config.Config, *slog.Logger) int) int {
	cfg, code, done := loadConfig(cmd, args, environ, stdout, stderr)
	if done {
		return code
	}
	if err := checkConfig(cfg, cmd, cmd != "demo" && cmd != "check", stderr); err != nil {
		configError(stderr, cmd, err)
		return 2
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
	defer ops.WriteHeldLines(logger) // the counts of bursts still held back, before exiting
	return fn(cfg, logger)
}

// runConfig prints the effective configuration, then its problems (exit 2) if it has any, so
// that a configuration that does not start can still be inspected.
func runConfig(args, environ []string, stdout, stderr io.Writer) int {
	cfg, code, done := loadConfig("config", args, environ, stdout, stderr)
	if done {
		return code
	}
	cfg.Dump(stdout)
	if err := checkConfig(cfg, "config", true, stderr); err != nil {
		configError(stderr, "config", err)
		return 2
	}
	return 0
}

// displayVersion is the short version for logs and the ezdfsd_build_info metric: the linked
// -X main.version, else the module version the go command embedded (a tag, or a pseudo-version
// holding the revision and "+dirty"), else "devel-REVISION", else "dev".
func displayVersion() string {
	if version != "" {
		return version
	}
	bi, ok := readBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	if rev, dirty := vcsRevision(bi); rev != "" {
		return "devel-" + shortRevision(rev) + dirty
	}
	return "dev"
}

// longVersion is what `ezdfsd version` prints: displayVersion, then the full VCS revision
// (+dirty with uncommitted changes), its commit time and the Go version, when known.
func longVersion() string {
	v := displayVersion()
	bi, ok := readBuildInfo()
	if !ok {
		return v
	}
	var facts []string
	if rev, dirty := vcsRevision(bi); rev != "" {
		facts = append(facts, "revision "+rev+dirty)
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" && s.Value != "" {
			facts = append(facts, "committed "+s.Value)
		}
	}
	if bi.GoVersion != "" {
		facts = append(facts, bi.GoVersion)
	}
	if len(facts) == 0 {
		return v
	}
	return v + " (" + strings.Join(facts, ", ") + ")"
}

// vcsRevision returns the embedded VCS revision and "+dirty" if the tree had uncommitted changes.
func vcsRevision(bi *debug.BuildInfo) (rev, dirty string) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	return rev, dirty
}

func shortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
