package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/migrate"
)

const migrateHelp = `Usage: ezdfsd migrate [--from mount|s3] [--path PREFIX] [--include-deleted] [--dry-run] [--verify]
                      [--concurrency N] [--batch N] [--bandwidth RATE] [--acl public-read] [--delete-source]
                      [--json] [--progress auto|always|never] [settings]

Copies the cluster's files to the backends the target settings choose: for every live row of
the storage table and the cache table, the bytes are read from the source backend (--from) and
written to the backend the dispatch rules of the settings given (file.ini DFSBackend /
[DispatchableDFS] PathBackends, or --path-backend, --default-backend) choose for the name. Point
--ez-root or --config at the settings you are about to deploy. Names whose target is the source
are left alone. Each copy is verified end to end: S3 checks a CRC64NVME checksum of the bytes
read from the source and stores it (multipart above 16 MiB); a copy to the mount point is
written atomically and read back. A name whose row changed during its copy is copied again at
the end. A second run (or a run after kill -9) skips every name whose copy is proven without
reading it: an S3 object with the row's size, the row's mtime (x-amz-meta-ezdfs-mtime) and a
stored checksum; a mount point file with the row's size and the row's mtime as its own. A
target file of the row's size that migrate did not write for this version and that is newer
than the source's (eZ stored it there after the switch) is left alone and reported. An S3
target is listed once at the start (up to 250,000 keys): a name it lacks is uploaded at once,
only if still absent (If-None-Match: *), without a HeadObject first.
S3 objects get the key (the name) and the Content-Type eZ's S3 backend writes (from the
extension, as the AWS SDK for PHP sets it).

  --from mount|s3       where the files are now (default mount)
  --path PREFIX         only names starting with PREFIX
  --include-deleted     also copy the files of deleted rows (mtime < 0)
  --dry-run             print files and bytes per source -> target pair; copy nothing
  --verify              re-read every copy already in the target and compare it with the
                        source (an audit, or objects changed behind the tool's back); copy
                        mismatches again
  --concurrency N       files copied at once (default 16)
  --batch N             rows read per query (default 1000)
  --bandwidth RATE      at most RATE bytes per second read from the source (e.g. 50MiB, 10MB)
  --acl ACL             canned ACL for S3 uploads, e.g. public-read as eZ's backend sent it
                        (default none; buckets with ACLs disabled refuse any)
  --delete-source       remove a file from the source once its copy is verified, if its row,
                        locked against eZ's writers, still has the mtime copied. Only after the
                        settings are switched: eZ must no longer read the source
  --json                print one JSON object with the figures at the end
  --progress WHEN       auto (on a terminal), always or never; on stderr

Exit status: 0 every file copied or proven, 1 some files failed or mismatched (or the run was
interrupted), 2 usage or configuration error.

`

// runMigrate is `ezdfsd migrate`.
func runMigrate(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, rest, err := ownFlags(args, []string{"include-deleted", "dry-run", "verify", "delete-source", "json", "help", "h"},
		[]string{"from", "path", "concurrency", "bandwidth", "acl", "progress", "batch"})
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd migrate: %v\n(see: ezdfsd migrate --help)\n", err)
		return 2
	}
	if flags["help"] != nil || flags["h"] != nil {
		commandHelp(stdout, "migrate")
		return 0
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ezdfsd migrate: "+format+"\n(see: ezdfsd migrate --help)\n", a...)
		return 2
	}
	m := &migrate.Migrator{Prefix: last(flags, "path", ""), IncludeDeleted: flags["include-deleted"] != nil,
		DryRun: flags["dry-run"] != nil, Verify: flags["verify"] != nil, DeleteSource: flags["delete-source"] != nil}
	from := last(flags, "from", "mount")
	var fromClass string
	switch from {
	case "mount":
		fromClass = dfs.MountPointBackend
	case "s3":
		fromClass = dfs.S3Backend
	default:
		return usageErr("--from: %q is not mount or s3", from)
	}
	for name, dst := range map[string]*int{"concurrency": &m.Concurrency, "batch": &m.Batch} {
		if s := last(flags, name, ""); s != "" {
			if *dst, err = positiveInt(name, s, false); err != nil {
				return usageErr("%v", err)
			}
		}
	}
	if s := last(flags, "bandwidth", ""); s != "" {
		// go-humanize reads both SI (MB) and IEC (MiB) units, as operators write them.
		n, err := humanize.ParseBytes(s)
		if err != nil || n == 0 || n > 1<<50 {
			return usageErr("--bandwidth: %q is not a rate in bytes per second (e.g. 50MiB, 10MB)", s)
		}
		m.Bandwidth = int64(n)
	}
	acl := last(flags, "acl", "")
	switch acl {
	case "", "private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control":
	default:
		return usageErr("--acl: %q is not a canned S3 ACL (e.g. public-read)", acl)
	}
	showProgress := last(flags, "progress", "auto")
	switch showProgress {
	case "auto", "always", "never":
	default:
		return usageErr("--progress: %q is not auto, always or never", showProgress)
	}
	asJSON := flags["json"] != nil
	return withConfig("migrate", rest, environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
		env, err := daemon.OpenMigrate(ctx, cfg, logger)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd migrate: %v\n", err)
			return 2
		}
		defer env.Close()
		m.Source = env.Backends[fromClass]
		if m.Source == nil {
			what := "--mount-point"
			if from == "s3" {
				what = "--s3-bucket"
			}
			fmt.Fprintf(stderr, "ezdfsd migrate: --from %s: no %s backend is configured (%s)\n", from, from, what)
			return 2
		}
		if env.Bucket != nil {
			env.Bucket.ACL = acl
			// A wrong bucket or key would fail every file one by one: say it once, up front.
			if _, used := migrateUses(m.Source, env); used && !m.DryRun {
				if err := env.Bucket.S3.Ping(ctx); err != nil {
					fmt.Fprintf(stderr, "ezdfsd migrate: %v\n", err)
					return 2
				}
			}
		}
		m.Store, m.Tables, m.Dispatch, m.Targets = env.Store, env.Tables.Names(), env.Dispatch, env.Backends
		var mu sync.Mutex
		m.OnError = func(table, name string, err error) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "ezdfsd migrate: %s %s: %v\n", table, name, err)
		}
		m.OnTargetNewer = func(table, name string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "ezdfsd migrate: %s %s: left alone: the target's copy is newer than the source's (eZ stored it there after the switch?)\n", table, name)
		}
		bar := migrateProgress(stderr, showProgress)
		if bar != nil {
			var total int64
			for _, table := range m.Tables {
				if n, err := env.Store.Count(ctx, table, sqlstore.PageFilter{NamePrefix: m.Prefix}); err == nil {
					total += n
				}
			}
			bar.ChangeMax64(total)
			start := time.Now()
			m.OnProgress = func(r migrate.Report) {
				mu.Lock()
				defer mu.Unlock()
				secs := max(time.Since(start).Seconds(), 0.001)
				bar.Describe(fmt.Sprintf("migrate: %d copied (%s, %s/s), %d verified", r.FilesCopied,
					humanize.IBytes(uint64(r.BytesCopied)), humanize.IBytes(uint64(float64(r.BytesCopied)/secs)), r.FilesSkipped))
				_ = bar.Set64(r.Rows)
			}
		}
		rep, err := m.Run(ctx)
		if bar != nil {
			mu.Lock()
			bar.Finish()
			mu.Unlock()
		}
		code := 0
		if rep.Failed() {
			code = 1
		}
		failed := err != nil && !errors.Is(err, context.Canceled)
		if asJSON {
			enc := json.NewEncoder(stdout)
			if werr := enc.Encode(rep); werr != nil {
				fmt.Fprintf(stderr, "ezdfsd migrate: %v\n", werr)
			}
		} else {
			writeMigrateSummary(stdout, rep, failed)
		}
		if failed {
			fmt.Fprintf(stderr, "ezdfsd migrate: %v\n", err)
			code = 2
		}
		return code
	})
}

// migrateUses reports whether the run reads or writes the bucket: as the source, or as a
// target of the dispatch rules.
func migrateUses(source migrate.Backend, env *daemon.Migrate) (string, bool) {
	if source.Class() == dfs.S3Backend {
		return "source", true
	}
	if slices.Contains(env.Dispatch.Backends(), dfs.S3Backend) {
		return "target", true
	}
	return "", false
}

// writeMigrateSummary prints the pairs and the final line; failed says the run was stopped by
// an error (printed after it).
func writeMigrateSummary(w io.Writer, rep migrate.Report, failed bool) {
	for _, p := range rep.Pairs {
		note := ""
		if p.From == p.To {
			note = "  (already there: left alone)"
		}
		fmt.Fprintf(w, "  %-5s -> %-5s %8d files %15d bytes%s\n", p.From, p.To, p.Files, p.Bytes, note)
	}
	secs := time.Duration(rep.Seconds * float64(time.Second)).Round(time.Millisecond)
	prefix := "ezdfsd migrate: "
	switch {
	case failed:
		prefix += "stopped by an error: "
	case rep.Interrupted:
		prefix += "interrupted: "
	}
	if rep.DryRun {
		fmt.Fprintf(w, "%sdry run: %d rows in %s; nothing copied\n", prefix, rep.Rows, secs)
		return
	}
	fmt.Fprintf(w, "%scopied %d files (%d bytes), %d already in the target and verified, %d already on their backend; "+
		"%d copied again, %d mismatches, %d failed", prefix, rep.FilesCopied, rep.BytesCopied, rep.FilesSkipped,
		rep.FilesSameBackend, rep.FilesRecopied, rep.Mismatches, rep.FilesFailed)
	if rep.FilesNotInSource > 0 {
		fmt.Fprintf(w, "; %d not in the source but already in the target", rep.FilesNotInSource)
	}
	if rep.FilesTargetNewer > 0 {
		fmt.Fprintf(w, "; %d left alone (newer in the target)", rep.FilesTargetNewer)
	}
	if rep.FilesDeletedSource > 0 {
		fmt.Fprintf(w, "; %d removed from the source", rep.FilesDeletedSource)
	}
	fmt.Fprintf(w, "; in %s\n", secs)
}

// migrateProgress returns a progress display on w (files against the row count, bytes/s in
// the description), or nil: when never, or when auto and w is not a terminal.
func migrateProgress(w io.Writer, when string) *progressbar.ProgressBar {
	if when == "never" {
		return nil
	}
	if when == "auto" {
		f, ok := w.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("migrate"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
