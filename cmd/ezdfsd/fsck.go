package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/maint"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

const fsckHelp = `Usage: ezdfsd fsck [--json] [--path PREFIX] [--repair [--min-age 1h]] [--metrics-textfile FILE]
                   [settings]

Compares the rows of the storage table and the cache table with the bytes in the backend the
dispatch rules choose for each name (mount point or S3), then walks the mount point and lists
the bucket for bytes without a row. It reports:
  missing_file    live rows whose file is missing              (--repair: marked deleted as eZ
                                                                does, mtime = -ABS(mtime), expired = 1)
  size_mismatch   live rows whose file has another size
  deleted_bytes   deleted rows whose bytes are still there      (--repair: purged as ezdfsd purge does,
                                                                bytes and row, under the row lock, if
                                                                expired = 1 and the original mtime is
                                                                older than --min-age)
  bad_hash        rows whose name_hash is not md5(name)
  wrong_table     rows in the table the split rule does not choose for their name
                                                               (--repair: moved to the right table in
                                                                one transaction, unless it already has
                                                                a row for that name_hash)
  orphan_file     files on the mount point without a row       (--repair: removed if older than --min-age)
  orphan_object   objects in the bucket without a row          (--repair: removed if older than --min-age)
  temp_file       temporary files of interrupted writes        (--repair: removed if older than --min-age)
Without --repair it writes nothing (a read-only database user is enough).

  --json                one JSON object per finding on stdout (the summary goes to stderr)
  --path PREFIX         only names starting with PREFIX
  --repair              fix what can be fixed (see above); a live row is never deleted; left
                        for an operator: size_mismatch, bad_hash
  --min-age DURATION    files, objects and deleted rows (by original mtime) younger than this
                        are never removed (default 1h, so eZ's writes in flight are safe)
  --batch N             rows read per query (default 1000)
  --workers N           stat / HeadObject calls in flight (default 8)
  --metrics-textfile F  write the run's figures for node_exporter's textfile collector

Progress (rows/s) goes to stderr when it is a terminal.
Exit status: 0 clean, 1 something found, 2 error or interrupted.

`

// runFsck is `ezdfsd fsck`.
func runFsck(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, rest, err := ownFlags(args, []string{"json", "repair", "help", "h"},
		[]string{"path", "min-age", "batch", "workers", "metrics-textfile"})
	if err != nil {
		fmt.Fprintf(stderr, "ezdfsd fsck: %v\n(see: ezdfsd fsck --help)\n", err)
		return 2
	}
	if flags["help"] != nil || flags["h"] != nil {
		commandHelp(stdout, "fsck")
		return 0
	}
	f := &maint.Fsck{Prefix: last(flags, "path", ""), Repair: flags["repair"] != nil}
	if s := last(flags, "min-age", ""); s != "" {
		if f.MinAge, err = time.ParseDuration(s); err != nil || f.MinAge <= 0 {
			fmt.Fprintf(stderr, "ezdfsd fsck: --min-age: %q is not a positive duration (e.g. 1h, 30m)\n", s)
			return 2
		}
	}
	for name, dst := range map[string]*int{"batch": &f.Batch, "workers": &f.Workers} {
		if s := last(flags, name, ""); s != "" {
			if *dst, err = positiveInt(name, s, false); err != nil {
				fmt.Fprintf(stderr, "ezdfsd fsck: %v\n", err)
				return 2
			}
		}
	}
	asJSON := flags["json"] != nil
	textfile := last(flags, "metrics-textfile", "")
	return withConfig("fsck", rest, environ, stdout, stderr, func(cfg *config.Config, logger *slog.Logger) int {
		m, err := daemon.OpenMaint(ctx, cfg, logger)
		if err != nil {
			fmt.Fprintf(stderr, "ezdfsd fsck: %v\n", err)
			return 2
		}
		defer m.Close()
		f.Store, f.Tables, f.Dispatch, f.Backends, f.MountPoint = m.Store, m.Tables, m.Dispatch, m.Backends, m.MountPoint
		if m.Bucket != nil {
			f.Bucket = m.Bucket
		}
		sum := map[[3]string][2]int64{} // kind, table, backend -> count, bytes
		enc := json.NewEncoder(stdout)
		bar := progress(stderr)
		var totalRows int64
		if bar != nil { // the ETA of the rows pass
			for _, table := range m.Tables.Names() {
				if n, err := m.Store.Count(ctx, table, sqlstore.PageFilter{NamePrefix: f.Prefix}); err == nil {
					totalRows += n
				}
			}
			bar.ChangeMax64(totalRows)
			bar.Describe("fsck: rows")
		}
		f.OnFinding = func(fd maint.Finding) {
			k := [3]string{string(fd.Kind), fd.Table, fd.Backend}
			v := sum[k]
			sum[k] = [2]int64{v[0] + 1, v[1] + fd.Size}
			if bar != nil {
				bar.Clear()
			}
			if asJSON {
				_ = enc.Encode(fd)
				return
			}
			fmt.Fprintln(stdout, findingLine(fd))
		}
		if bar != nil {
			filesPass := false
			f.OnProgress = func(rows, files int64) {
				if files == 0 {
					_ = bar.Set64(rows)
					return
				}
				if !filesPass { // rows done: files and objects, total unknown
					filesPass = true
					bar.Reset()
					bar.ChangeMax64(-1)
					bar.Describe("fsck: files and objects")
				}
				_ = bar.Set64(files)
			}
		}
		rep, err := f.Run(ctx)
		if bar != nil {
			bar.Finish()
		}
		out := stdout
		if asJSON {
			out = stderr
		}
		writeFsckSummary(out, rep, sum, err)
		code := 0
		switch {
		case errors.Is(err, context.Canceled):
			code = 2
		case err != nil:
			fmt.Fprintf(stderr, "ezdfsd fsck: %v\n", err)
			code = 2
		case rep.Total() > 0:
			code = 1
		}
		if textfile != "" {
			findings := map[string]float64{}
			for _, k := range allKinds {
				findings[string(k)] = float64(rep.Findings[k])
			}
			if werr := maint.WriteTextfile(textfile, "fsck", code, rep.Duration, map[string]float64{
				"rows": float64(rep.Rows), "files": float64(rep.Files), "objects": float64(rep.Objects),
				"repaired": float64(rep.Repaired), "repair_failed": float64(rep.RepairFailed),
			}, findings); werr != nil {
				fmt.Fprintf(stderr, "ezdfsd fsck: %v\n", werr)
			}
		}
		return code
	})
}

var allKinds = []maint.Kind{maint.KindMissingFile, maint.KindSizeMismatch, maint.KindDeletedBytes, maint.KindBadHash,
	maint.KindWrongTable, maint.KindOrphanFile, maint.KindOrphanObject, maint.KindTempFile}

// findingLine is one finding as text.
func findingLine(fd maint.Finding) string {
	var b strings.Builder
	table := fd.Table
	if table == "" {
		table = "-"
	}
	fmt.Fprintf(&b, "%-14s %-16s %-10s %s", fd.Kind, table, fd.Backend, fd.Name)
	switch fd.Kind {
	case maint.KindSizeMismatch:
		fmt.Fprintf(&b, " (row says %d bytes, found %d)", fd.RowSize, fd.Size)
	case maint.KindMissingFile, maint.KindBadHash, maint.KindWrongTable:
	default:
		fmt.Fprintf(&b, " (%d bytes)", fd.Size)
	}
	switch {
	case fd.Repaired:
		b.WriteString(" [repaired]")
	case fd.RepairError != "":
		b.WriteString(" [repair failed: " + fd.RepairError + "]")
	}
	return b.String()
}

// writeFsckSummary prints counts and bytes per finding, table and backend, and a last line
// that says clean only when the run checked everything (err, the run's error, is nil).
func writeFsckSummary(w io.Writer, rep maint.FsckReport, sum map[[3]string][2]int64, err error) {
	fmt.Fprintf(w, "ezdfsd fsck: checked %d rows, %d files, %d objects in %s\n",
		rep.Rows, rep.Files, rep.Objects, rep.Duration.Round(time.Millisecond))
	keys := make([][3]string, 0, len(sum))
	for k := range sum {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a[0] < b[0] || a[0] == b[0] && (a[1] < b[1] || a[1] == b[1] && a[2] < b[2])
	})
	for _, k := range keys {
		table := k[1]
		if table == "" {
			table = "-"
		}
		fmt.Fprintf(w, "  %-14s %-16s %-10s %6d  %d bytes\n", k[0], table, k[2], sum[k][0], sum[k][1])
	}
	if rep.Repaired > 0 || rep.RepairFailed > 0 {
		fmt.Fprintf(w, "ezdfsd fsck: repaired %d, repair failed %d\n", rep.Repaired, rep.RepairFailed)
	}
	n := rep.Total()
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(w, "ezdfsd fsck: interrupted with %d finding(s); the figures above cover what was checked\n", n)
	case err != nil:
		fmt.Fprintf(w, "ezdfsd fsck: stopped by an error with %d finding(s); the figures above cover what was checked\n", n)
	case n == 0:
		fmt.Fprintln(w, "ezdfsd fsck: clean")
	default:
		fmt.Fprintf(w, "ezdfsd fsck: %d finding(s)\n", n)
	}
}

// progress returns a progress display on w when w is a terminal, nil otherwise.
func progress(w io.Writer) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("fsck"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("items"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
