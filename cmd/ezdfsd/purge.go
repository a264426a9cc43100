package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/maint"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

const purgeHelp = `Usage: ezdfsd purge [--dry-run] [--scope S,...] [--mtime-before DATE] [--path PREFIX]
                    [--rate N] [--batch N] [--workers N] [--metrics-textfile FILE] [settings]

Removes deleted cluster files for good, as eZ's bin/php/clusterpurge.php should: the rows with
expired = 1 in the storage table and the cache table, their bytes on the mount point or in S3,
and the directories left empty on the mount point. Rows are locked (SELECT ... FOR UPDATE)
while their bytes are removed and deleted only if still expired, so a name eZ re-creates
meanwhile keeps its new file. A row whose bytes cannot be removed is reported and skipped.

  --dry-run             list what would be removed, with counts and bytes; change nothing
  --scope S,...         only these scopes (repeatable); media and mediafile, image and images
                        are the same scope
  --mtime-before DATE   only rows whose original mtime is before DATE (2006-01-02, RFC 3339 or
                        Unix seconds). eZ records no deletion time: this is when the file was
                        last stored, not when it was deleted
  --path PREFIX         only names starting with PREFIX
  --rate N              at most N rows per second (default: no limit)
  --batch N             rows read per query (default 1000)
  --workers N           transactions at once, 25 rows each (default 4)
  --metrics-textfile F  write the run's figures for node_exporter's textfile collector

Exit status: 0 done, 1 some rows failed or the run was interrupted, 2 configuration or
database error.

`

// runPurge is `ezdfsd purge`.
func runPurge(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, rest, err := ownFlags(args, []string{"dry-run", "help", "h"},
		[]string{"scope", "mtime-before", "path", "rate", "batch", "workers", "metrics-textfile"})
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd purge: %v\n(see: ezdfsd purge --help)\n", err)
		return 2
	}
	if flags["help"] != nil || flags["h"] != nil {
		commandHelp(stdout, "purge")
		return 0
	}
	p := &maint.Purge{DryRun: flags["dry-run"] != nil, Scopes: splitList(flags, "scope"), Prefix: last(flags, "path", "")}
	if s := last(flags, "mtime-before", ""); s != "" {
		if p.MTimeBefore, err = parseDate(s); err != nil {
			fmt.Fprintf(stderr, "ezdfsd purge: --mtime-before: %v\n", err)
			return 2
		}
	}
	for name, dst := range map[string]*int{"batch": &p.Batch, "workers": &p.Workers} {
		if s := last(flags, name, ""); s != "" {
			if *dst, err = positiveInt(name, s, false); err != nil {
				fmt.Fprintf(stderr, "ezdfsd purge: %v\n", err)
				return 2
			}
		}
	}
	if s := last(flags, "rate", ""); s != "" {
		if p.Rate, err = strconv.ParseFloat(s, 64); err != nil || p.Rate < 0 {
			fmt.Fprintf(stderr, "ezdfsd purge: --rate: %q is not a number of rows per second\n", s)
			return 2
		}
	}
	textfile := last(flags, "metrics-textfile", "")
	return withConfig("purge", rest, environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
		m, err := daemon.OpenMaint(ctx, cfg, logger)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd purge: %v\n", err)
			return 2
		}
		defer m.Close()
		p.Store, p.Tables, p.Dispatch, p.Backends = m.Store, m.Tables.Names(), m.Dispatch, m.Backends
		var mu sync.Mutex
		if p.DryRun {
			p.OnRow = func(table string, r sqlstore.Row) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(stdout, "would remove %s %s (%d bytes, scope %s, stored %s)\n",
					table, r.Name, r.Size, r.Scope, time.Unix(abs(r.MTime), 0).UTC().Format(time.RFC3339))
			}
		}
		p.OnError = func(table string, r sqlstore.Row, err error) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "ezdfsd purge: %s %s: skipped: %v\n", table, r.Name, err)
		}
		rep, err := p.Run(ctx)
		verb := "removed"
		if p.DryRun {
			verb = "dry run: would remove"
		}
		code := 0
		switch {
		case errors.Is(err, context.Canceled):
			fmt.Fprintf(stdout, "ezdfsd purge: interrupted: %s %s\n", verb, rep)
			code = 1
		case err != nil:
			fmt.Fprintf(stdout, "ezdfsd purge: stopped by an error: %s %s\n", verb, rep)
			fmt.Fprintf(stderr, "ezdfsd purge: %v\n", err)
			code = 2
		default:
			fmt.Fprintf(stdout, "ezdfsd purge: %s %s\n", verb, rep)
			if rep.Failed > 0 {
				code = 1
			}
		}
		if textfile != "" {
			if werr := maint.WriteTextfile(textfile, "purge", code, rep.Duration, map[string]float64{
				"rows": float64(rep.Rows), "bytes": float64(rep.Bytes), "skipped": float64(rep.Skipped), "failed": float64(rep.Failed),
			}, nil); werr != nil {
				fmt.Fprintf(stderr, "ezdfsd purge: %v\n", werr)
			}
		}
		return code
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
