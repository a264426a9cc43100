// Package preflight is `ezdfsd check`: it runs the daemon's readiness probes once (the same
// ops.Check values /readyz runs), then samples a few live rows of every metadata table for each
// storage backend the dispatch rules pick, looks each row up as serving does and reads its bytes
// through the backend, comparing the size with the row. Every finding carries a reason and, when
// something is wrong, a fix in operator terms.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/ops"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Results of a Finding.
const (
	// Pass: the check or sample is fine.
	Pass = "ok"
	// Fail: serving is affected; `ezdfsd check` exits 1.
	Fail = "FAIL"
	// Warn: a non-critical check failed (the daemon serves without it).
	Warn = "warn"
	// Skip: nothing to test (no live rows, or a dependency already failed).
	Skip = "skip"
)

// Defaults applied by Run to zero Setup fields.
const (
	DefaultPerBackend = 3
	DefaultScan       = 500
	DefaultTimeout    = 10 * time.Second
	DefaultMaxRead    = 16 << 20
)

// Finding is one line of the report.
type Finding struct {
	// Check names what was checked: a readiness check name ("metadata_mysql", "mountpoint",
	// "s3"), "sample TABLE" or "file NAME".
	Check string
	// Result is Pass, Fail, Warn or Skip.
	Result string
	// Reason says what was found, e.g. "table ezdfsfile_cache does not exist in database ezp".
	Reason string
	// Fix is a hint for the operator when Result is Fail or Warn.
	Fix string
}

// Report is every finding in order: the checks first, then the samples.
type Report []Finding

// OK reports whether no finding failed (warnings and skips do not count).
func (r Report) OK() bool { return r.Failures() == 0 }

// Failures counts the failed findings.
func (r Report) Failures() int {
	n := 0
	for _, f := range r {
		if f.Result == Fail {
			n++
		}
	}
	return n
}

// WriteTable prints the report as an aligned text table with the columns CHECK, RESULT, REASON
// and FIX.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tREASON\tFIX")
	for _, f := range r {
		fix := f.Fix
		if fix == "" {
			fix = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Check, f.Result, oneLine(f.Reason), oneLine(fix))
	}
	return tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Rows lists live rows of a metadata table (sqlstore.Store implements it).
type Rows interface {
	// LiveNames returns up to limit names of rows that are neither deleted nor expired.
	LiveNames(ctx context.Context, table string, limit int) ([]string, error)
}

// Setup is what Run checks. The daemon builds it from the configuration (daemon.Preflight).
type Setup struct {
	// Checks are the readiness checks; each is run once.
	Checks []ops.Check
	// Rows lists the rows to sample (nil: no samples).
	Rows Rows
	// Meta looks sampled rows up as serving does (by name, in the table Tables routes it to).
	Meta metadata.Store
	// Backends by eZ class name, as the dispatch rules name them. A backend that could not be
	// opened is absent; its check says why.
	Backends map[string]storage.Backend
	// Tables routes names to tables, and lists the tables to sample.
	Tables dfs.Tables
	// Dispatch picks the backend of each name.
	Dispatch dfs.Dispatch
	// PerBackend is the number of rows sampled per table and backend (default 3).
	PerBackend int
	// Scan is the number of live rows listed per table to find them (default 500).
	Scan int
	// Timeout bounds each probe, lookup and read (default 10s).
	Timeout time.Duration
	// MaxRead: files up to this size are read whole; of larger ones only the last byte is read
	// (default 16 MiB).
	MaxRead int64
}

func (s Setup) withDefaults() Setup {
	if s.PerBackend <= 0 {
		s.PerBackend = DefaultPerBackend
	}
	if s.Scan <= 0 {
		s.Scan = DefaultScan
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxRead <= 0 {
		s.MaxRead = DefaultMaxRead
	}
	return s
}

// Run runs every check once, then the samples, and returns the findings. It never stops early:
// a failed check turns the samples that depend on it into skips.
func Run(ctx context.Context, s Setup) Report {
	s = s.withDefaults()
	var rep Report
	metaOK := true
	failed := map[string]bool{}
	for _, c := range s.Checks {
		cctx, cancel := context.WithTimeout(ctx, s.Timeout)
		err := c.Probe(cctx)
		cancel()
		switch {
		case err == nil:
			rep = append(rep, Finding{Check: c.Name, Result: Pass, Reason: passReason(c.Name)})
			continue
		case c.Critical:
			rep = append(rep, Finding{Check: c.Name, Result: Fail, Reason: ops.Redact(err.Error()), Fix: checkFix(c.Name, err)})
		default:
			rep = append(rep, Finding{Check: c.Name, Result: Warn, Reason: ops.Redact(err.Error()), Fix: checkFix(c.Name, err)})
		}
		failed[c.Name] = true
		if strings.HasPrefix(c.Name, "metadata_") {
			metaOK = false
		}
	}
	if s.Rows == nil || s.Meta == nil {
		return rep
	}
	// Files of a backend whose check failed would only repeat that failure.
	usable := map[string]storage.Backend{}
	for class, b := range s.Backends {
		if !failed[backendCheck(class)] {
			usable[class] = b
		}
	}
	s.Backends = usable
	for _, table := range s.Tables.Names() {
		rep = append(rep, s.sampleTable(ctx, table, metaOK)...)
	}
	return rep
}

func passReason(check string) string {
	switch {
	case strings.HasPrefix(check, "metadata_"):
		return "database answers; every table has the columns ezdfsd reads"
	case check == "mountpoint":
		return "readable directory"
	case check == "s3":
		return "bucket answers HeadBucket"
	}
	return "answers"
}

// sampleTable samples up to PerBackend live rows of table for each backend.
func (s Setup) sampleTable(ctx context.Context, table string, metaOK bool) []Finding {
	check := "sample " + table
	lctx, cancel := context.WithTimeout(ctx, s.Timeout)
	names, err := s.Rows.LiveNames(lctx, table, s.Scan)
	cancel()
	if err != nil {
		if !metaOK {
			return []Finding{{Check: check, Result: Skip, Reason: "the metadata check failed"}}
		}
		return []Finding{{Check: check, Result: Fail, Reason: ops.Redact(err.Error()), Fix: fixDatabase}}
	}
	if len(names) == 0 {
		return []Finding{{Check: check, Result: Skip, Reason: "no live rows"}}
	}
	byBackend := map[string][]string{}
	for _, n := range names {
		b := s.Dispatch.BackendFor(n)
		if len(byBackend[b]) < s.PerBackend {
			byBackend[b] = append(byBackend[b], n)
		}
	}
	var out []Finding
	for _, backend := range s.Dispatch.Backends() {
		picked := byBackend[backend]
		if len(picked) == 0 {
			out = append(out, Finding{Check: check, Result: Skip,
				Reason: fmt.Sprintf("no live rows among the %d newest are dispatched to %s", len(names), backendLabel(backend))})
			continue
		}
		for _, name := range picked {
			out = append(out, s.sampleFile(ctx, table, backend, name))
		}
	}
	return out
}

// sampleFile looks name up as serving does and reads its bytes from backend.
func (s Setup) sampleFile(ctx context.Context, table, backend, name string) Finding {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	f := Finding{Check: "file " + name, Result: Fail}
	served := s.Tables.For(name)
	row, err := s.Meta.Lookup(ctx, metadata.Key{Table: served, Name: name})
	switch {
	case errors.Is(err, metadata.ErrNotFound) && served != table:
		f.Reason = fmt.Sprintf("row is in %s, but serving looks the name up in %s and finds nothing", table, served)
		f.Fix = "check table, cache-table, cache-path-needle and storage-path-needle: they must route names as eZ does"
		return f
	case err != nil:
		f.Reason = "lookup in " + served + ": " + ops.Redact(err.Error())
		f.Fix = fixDatabase
		return f
	}
	b, ok := s.Backends[backend]
	if !ok {
		f.Result, f.Reason = Skip, backendLabel(backend)+" is not usable (see its check)"
		return f
	}
	obj, err := b.Open(ctx, name)
	if err != nil {
		return fileError(f, table, row, backend, err)
	}
	defer obj.Close()
	if n := obj.Size(); n >= 0 && n != row.Size {
		f.Reason = fmt.Sprintf("%s row says %d bytes, the file in %s has %d", table, row.Size, backendLabel(backend), n)
		f.Fix = fixStale
		return f
	}
	off, n := int64(0), row.Size
	if n > s.MaxRead {
		off, n = n-1, 1 // large file: the last byte proves the length
	}
	r, err := obj.Range(ctx, off, n)
	if err != nil {
		return fileError(f, table, row, backend, err)
	}
	got, err := io.Copy(io.Discard, r)
	if err != nil || got != n {
		f.Reason = fmt.Sprintf("%s row says %d bytes; %s gave only %d", table, row.Size, backendLabel(backend), off+got)
		if err != nil {
			f.Reason += ": " + ops.Redact(err.Error())
		}
		f.Fix = fixStale
		return f
	}
	f.Result = Pass
	f.Reason = fmt.Sprintf("%s row, %d bytes read from %s", table, row.Size, backendLabel(backend))
	if off > 0 {
		f.Reason = fmt.Sprintf("%s row, %d bytes (last byte read) from %s", table, row.Size, backendLabel(backend))
	}
	return f
}

// fileError describes a failure to open or read a sampled file.
func fileError(f Finding, table string, row metadata.File, backend string, err error) Finding {
	if errors.Is(err, storage.ErrNotExist) {
		f.Reason = fmt.Sprintf("%s row (%d bytes) has no file in %s", table, row.Size, backendLabel(backend))
		f.Fix = "restore the file or re-import it (ezdfsd import), or remove the stale row; check that mount-point / s3-bucket is where eZ writes"
		return f
	}
	f.Reason = "reading from " + backendLabel(backend) + ": " + ops.Redact(err.Error())
	f.Fix = fixStale + "; if every file fails, see the backend's check"
	return f
}

const (
	fixDatabase = "check db-host, db-port, db-user, db-password and db-name (CLUSTER_STORAGE_* in config.php) and that the database server runs"
	fixStale    = "the file does not match its row: restore it or re-import it (ezdfsd import)"
)

// backendCheck is the name of the readiness check of an eZ backend class (daemon's names).
func backendCheck(class string) string {
	switch class {
	case dfs.MountPointBackend:
		return "mountpoint"
	case dfs.S3Backend:
		return "s3"
	}
	return class
}

// backendLabel names an eZ backend class for operators.
func backendLabel(class string) string {
	switch class {
	case dfs.MountPointBackend:
		return "the mount point"
	case dfs.S3Backend:
		return "the S3 bucket"
	}
	return class
}
