// Package migrate moves a cluster's files between the mount point and S3 (ezdfsd migrate): for
// every row of the metadata tables it copies the bytes from the source backend to the backend the
// target dispatch rules choose for the name, verifies the copy end to end, and proves earlier
// copies equal without reading their bytes again, so an interrupted run resumes where it stopped.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/maint/walk"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// DefaultConcurrency is how many files are copied at once when Concurrency is 0: enough to
// keep an NFS server and S3 busy with small files, few enough for a 2-core machine.
const DefaultConcurrency = 16

// maxRounds bounds how often a name that keeps changing is copied again at the end of a run.
const maxRounds = 3

// Store is what a Migrator needs of the metadata store (sqlstore.Store).
type Store interface {
	walk.Pager
	// Row reads one row afresh.
	Row(ctx context.Context, table, name string) (sqlstore.Row, bool, error)
	// WithRowLock runs fn under the row's lock (for DeleteSource).
	WithRowLock(ctx context.Context, table, nameHash string, fn func(r sqlstore.Row, found bool) error) error
}

// Migrator copies the files of the rows of Tables from Source to the backends that Dispatch
// chooses. Run may be called once.
type Migrator struct {
	// Store reads the rows.
	Store Store
	// Tables are the tables walked (storage table and cache table).
	Tables []string
	// Dispatch are the target rules: the settings about to be deployed.
	Dispatch dfs.Dispatch
	// Source is where the bytes are now.
	Source Backend
	// Targets maps eZ backend class names to backends; names whose target class is the
	// Source's are skipped.
	Targets map[string]Backend
	// Prefix restricts the run to names starting with it.
	Prefix string
	// IncludeDeleted also copies rows of deleted files (mtime < 0).
	IncludeDeleted bool
	// DryRun only counts files and bytes per source → target pair.
	DryRun bool
	// Verify re-reads every target object that is present and compares it with the source,
	// instead of trusting the proof; mismatches are copied again.
	Verify bool
	// DeleteSource removes a file from the source after its copy is verified or proven, if its
	// row, locked, still has the mtime copied.
	DeleteSource bool
	// Concurrency is how many files are handled at once (0: DefaultConcurrency).
	Concurrency int
	// Bandwidth caps the bytes read from the source per second (0: no cap).
	Bandwidth int64
	// Batch is the number of rows read per query (0: walk.DefaultBatch).
	Batch int
	// OnProgress, if set, is called after each file with the figures so far; it may be called
	// from several goroutines at once.
	OnProgress func(Report)
	// OnTargetNewer, if set, is called for every file left alone because the target's is newer.
	OnTargetNewer func(table, name string)
	// OnError, if set, is called for every file that failed or mismatched.
	OnError func(table, name string, err error)
	// afterPut, for tests, runs after a copy is verified and before its row is read again.
	afterPut func(table string, r sqlstore.Row)

	c       counters
	listed  map[string]map[string]struct{} // per target class: the names it held at the start (absentAware)
	limiter *rate.Limiter
	big     chan struct{}
	mu      sync.Mutex
	pairs   map[[2]string]*Pair
	changed []item
}

// Pair counts the files and bytes of one source → target pair.
type Pair struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
}

// Report is what a run did; its JSON form is `ezdfsd migrate --json`.
type Report struct {
	// FilesCopied and BytesCopied count verified copies (copies again included).
	FilesCopied int64 `json:"files_copied"`
	BytesCopied int64 `json:"bytes_copied"`
	// FilesSkipped were already in the target and proven (or, with Verify, compared) equal.
	FilesSkipped int64 `json:"files_skipped"`
	// FilesSameBackend are the names whose target backend is the source.
	FilesSameBackend int64 `json:"files_same_backend"`
	// FilesFailed could not be copied or verified.
	FilesFailed int64 `json:"files_failed"`
	// FilesRecopied were copied again: their row changed during the copy, or the target's
	// bytes did not match the source's.
	FilesRecopied int64 `json:"files_recopied"`
	// Mismatches counts target objects whose bytes differed from the source's.
	Mismatches int64 `json:"mismatches"`
	// FilesNotInSource were missing from the source while the target already had a file of
	// the row's size (a rollback meets the names that never left the mount point); not failures.
	FilesNotInSource int64 `json:"files_not_in_source"`
	// FilesTargetNewer were left alone: the target holds a file of the row's size that
	// migrate did not write for this version and that is newer than the source's (eZ stored
	// it there after the switch).
	FilesTargetNewer int64 `json:"files_target_newer"`
	// FilesDeletedSource counts source files removed (DeleteSource).
	FilesDeletedSource int64 `json:"files_deleted_source"`
	// SourceBytesRead and TargetBytesRead count the bytes read from each side (copies,
	// read-backs and Verify); a resumed run reads nothing of what it proves.
	SourceBytesRead int64 `json:"source_bytes_read"`
	TargetBytesRead int64 `json:"target_bytes_read"`
	// Rows counts the rows walked (deleted ones left alone included).
	Rows int64 `json:"rows"`
	// Seconds is the run's wall time.
	Seconds float64 `json:"seconds"`
	// Pairs counts files and bytes per source → target backend ("mount", "s3").
	Pairs []Pair `json:"pairs"`
	// DryRun and Interrupted describe the run.
	DryRun      bool `json:"dry_run"`
	Interrupted bool `json:"interrupted"`
}

// Failed reports whether the run should exit 1: failures, mismatches (even when copied again
// successfully: a mismatch is always reported), or an interrupted run.
func (r Report) Failed() bool { return r.FilesFailed > 0 || r.Mismatches > 0 || r.Interrupted }

type counters struct {
	copied, bytesCopied, skipped, same, failed, recopied, mismatches, notInSource, targetNewer, deleted, srcRead, dstRead, rows atomic.Int64
}

// item is a row to copy again at the end of the run.
type item struct {
	table string
	name  string
}

// ShortName is the name of a backend class in reports: "mount" or "s3".
func ShortName(class string) string {
	switch class {
	case dfs.MountPointBackend:
		return "mount"
	case dfs.S3Backend:
		return "s3"
	}
	return class
}

// snapshot returns the counters as a Report (without pairs).
func (m *Migrator) snapshot() Report {
	c := &m.c
	return Report{FilesCopied: c.copied.Load(), BytesCopied: c.bytesCopied.Load(), FilesSkipped: c.skipped.Load(),
		FilesSameBackend: c.same.Load(), FilesFailed: c.failed.Load(), FilesRecopied: c.recopied.Load(),
		Mismatches: c.mismatches.Load(), FilesNotInSource: c.notInSource.Load(), FilesTargetNewer: c.targetNewer.Load(), FilesDeletedSource: c.deleted.Load(), SourceBytesRead: c.srcRead.Load(),
		TargetBytesRead: c.dstRead.Load(), Rows: c.rows.Load(), DryRun: m.DryRun}
}

// Run walks every table, then copies again the names whose row changed meanwhile (up to
// maxRounds times). It returns the report and ctx's error when ctx ends, or an error when a
// table cannot be read; failures of single files are only counted (and given to OnError).
func (m *Migrator) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	m.pairs = map[[2]string]*Pair{}
	if m.Bandwidth > 0 {
		m.limiter = rate.NewLimiter(rate.Limit(m.Bandwidth), int(min(m.Bandwidth, 256<<10)))
	}
	m.big = make(chan struct{}, max(1, m.concurrency()/4))
	err := m.run(ctx)
	rep := m.snapshot()
	rep.Seconds = time.Since(start).Seconds()
	for _, p := range m.pairs {
		rep.Pairs = append(rep.Pairs, *p)
	}
	sort.Slice(rep.Pairs, func(i, j int) bool {
		a, b := rep.Pairs[i], rep.Pairs[j]
		return a.From < b.From || a.From == b.From && a.To < b.To
	})
	if rep.Pairs == nil {
		rep.Pairs = []Pair{}
	}
	rep.Interrupted = ctx.Err() != nil
	return rep, err
}

func (m *Migrator) run(ctx context.Context) error {
	if m.Source == nil {
		return errors.New("migrate: no source backend")
	}
	workers := m.concurrency()
	m.listTargets(ctx)
	for _, table := range m.Tables {
		werr := inPool(workers, func(r sqlstore.Row) { m.one(ctx, table, r, false) }, func(send func(sqlstore.Row)) error {
			return walk.Rows(ctx, m.Store, table, sqlstore.PageFilter{NamePrefix: m.Prefix}, m.Batch, func(r sqlstore.Row) error {
				if r.Deleted() && !m.IncludeDeleted {
					m.c.rows.Add(1) // walked, so that progress reaches the table's row count
					return nil
				}
				send(r)
				return nil
			})
		})
		if err := ctx.Err(); err != nil {
			return err
		}
		if werr != nil {
			return fmt.Errorf("migrate %s: %w", table, werr)
		}
	}
	for round := 0; round < maxRounds && !m.DryRun; round++ {
		m.mu.Lock()
		again := m.changed
		m.changed = nil
		m.mu.Unlock()
		if len(again) == 0 {
			return nil
		}
		_ = inPool(workers, func(it item) {
			r, found, err := m.Store.Row(ctx, it.table, it.name)
			switch {
			case err != nil:
				m.fail(ctx, it.table, it.name, fmt.Errorf("read the row again: %w", err))
			case !found || r.Deleted() && !m.IncludeDeleted:
				// deleted meanwhile: nothing left to copy
			default:
				m.one(ctx, it.table, r, true)
			}
		}, func(send func(item)) error {
			for _, it := range again {
				send(it)
			}
			return nil
		})
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	left := m.changed
	m.changed = nil
	m.mu.Unlock()
	for _, it := range left {
		m.fail(ctx, it.table, it.name, fmt.Errorf("the row changed during each of %d copies; run again", maxRounds+1))
	}
	return nil
}

// listLimit is the most names a target listing keeps in memory (about 150 bytes each); a
// target holding more under the prefix is asked about each name instead.
const listLimit = 250_000

// listTargets lists, for each absentAware target other than the source, the names it holds
// under Prefix, so that names it lacks are uploaded without a check each. Not for --verify
// (every present name is re-read anyway) or --dry-run; a failed or too long listing leaves the
// target to the per-name checks.
func (m *Migrator) listTargets(ctx context.Context) {
	if m.Verify || m.DryRun {
		return
	}
	for class, target := range m.Targets {
		t, ok := target.(absentAware)
		if !ok || class == m.Source.Class() {
			continue
		}
		names, complete, err := t.Listed(ctx, m.Prefix, listLimit)
		if err != nil || !complete {
			continue
		}
		if m.listed == nil {
			m.listed = make(map[string]map[string]struct{})
		}
		m.listed[class] = names
	}
}

// unlisted reports whether r's name was not in its target when the run listed it, and can be
// uploaded on that knowledge alone (absentAware.PutIfAbsent).
func (m *Migrator) unlisted(class string, target Backend, r sqlstore.Row) bool {
	names, ok := m.listed[class]
	if !ok {
		return false
	}
	if _, held := names[r.Name]; held {
		return false
	}
	t, ok := target.(absentAware)
	return ok && t.CanPutIfAbsent(r)
}

// inPool runs do for every value feed sends, on workers goroutines that live for the whole
// feed (not one goroutine per file, which would grow a fresh stack through the SDK's deep call
// chain for every copy), and returns feed's error once every value is done.
func inPool[T any](workers int, do func(T), feed func(send func(T)) error) error {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range ch {
				do(v)
			}
		}()
	}
	err := feed(func(v T) { ch <- v })
	close(ch)
	wg.Wait()
	return err
}

// one handles one row: count it, skip it when its target is the source, prove or compare the
// target's copy, else copy; then re-read the row and queue the name again if it changed.
func (m *Migrator) one(ctx context.Context, table string, r sqlstore.Row, again bool) {
	defer m.progress()
	if !again {
		m.c.rows.Add(1)
	}
	if err := dfs.CheckName(r.Name); err != nil {
		m.fail(ctx, table, r.Name, err)
		return
	}
	class := m.Dispatch.BackendFor(r.Name)
	if !again {
		m.pair(m.Source.Class(), class, r.Size)
	}
	if class == m.Source.Class() {
		m.c.same.Add(1)
		return
	}
	if m.DryRun {
		return
	}
	target := m.Targets[class]
	if target == nil {
		m.fail(ctx, table, r.Name, fmt.Errorf("no %s backend configured for the target", class))
		return
	}
	recopy := again
	var err error
	unlisted := !again && m.unlisted(class, target, r)
	if unlisted {
		err = m.copy(ctx, target, r, true)
	}
	// Listed in the target, or stored there since the listing (eZ, after the switch).
	if !unlisted || errors.Is(err, s3.ErrExists) {
		if !again {
			done, mismatch := m.inTarget(ctx, table, target, r)
			if done {
				return
			}
			recopy = mismatch
		}
		err = m.copy(ctx, target, r, false)
	}
	if err != nil {
		if errors.Is(err, errNoSource) {
			// Not in the source: fine if the target already has a file of the row's size (a
			// rollback meets the names that never left the mount point), else a loss to report.
			if info, serr := target.Stat(ctx, r.Name); serr == nil && info.Size == r.Size {
				m.c.notInSource.Add(1)
				return
			}
		}
		if errors.Is(err, ErrMismatch) {
			m.c.mismatches.Add(1)
			// Once more: a mismatch is never accepted, but a transient one must not fail the run.
			if err = m.copy(ctx, target, r, false); err == nil {
				recopy = true
			}
		}
		if err != nil {
			m.fail(ctx, table, r.Name, err)
			return
		}
	}
	m.c.copied.Add(1)
	m.c.bytesCopied.Add(r.Size)
	if recopy {
		m.c.recopied.Add(1)
	}
	if m.afterPut != nil {
		m.afterPut(table, r)
	}
	cur, found, err := m.Store.Row(ctx, table, r.Name)
	if err != nil {
		m.fail(ctx, table, r.Name, fmt.Errorf("read the row again after the copy: %w", err))
		return
	}
	if !found || cur.MTime != r.MTime || cur.Size != r.Size {
		if found && (!cur.Deleted() || m.IncludeDeleted) {
			m.mu.Lock()
			m.changed = append(m.changed, item{table, r.Name})
			m.mu.Unlock()
		}
		return
	}
	m.deleteSource(ctx, table, r)
}

func (m *Migrator) concurrency() int {
	if m.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return m.Concurrency
}

// BigFile is the size from which a copy to S3 is a multipart upload holding a few parts in
// memory (storage/s3 DefaultPartSize); at most a quarter of Concurrency such copies run at once,
// which bounds memory at about Concurrency × 20 MiB whatever the file sizes.
const BigFile = 16 << 20

// copy streams r's bytes from the source to target, hashing them on the way; target checks
// what it stored against that hash once it has read the whole body.
// ifAbsent stores it only if the target still has no such name (absentAware.PutIfAbsent).
func (m *Migrator) copy(ctx context.Context, target Backend, r sqlstore.Row, ifAbsent bool) error {
	if r.Size >= BigFile && target.Class() == dfs.S3Backend {
		select {
		case m.big <- struct{}{}:
			defer func() { <-m.big }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	obj, err := m.Source.Open(ctx, r.Name)
	if errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("%w (%s): %w", errNoSource, ShortName(m.Source.Class()), err)
	}
	if err != nil {
		return fmt.Errorf("open the source: %w", err)
	}
	defer obj.Close()
	if n := obj.Size(); n >= 0 && n != r.Size {
		return fmt.Errorf("the source has %d bytes, the row says %d", n, r.Size)
	}
	body, err := obj.Range(ctx, 0, r.Size)
	if errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("%w (%s): %w", errNoSource, ShortName(m.Source.Class()), err)
	}
	if err != nil {
		return fmt.Errorf("read the source: %w", err)
	}
	h := newHash()
	src := &countingReader{r: io.TeeReader(m.limit(ctx, body), h), n: &m.c.srcRead}
	put := target.Put
	if ifAbsent {
		put = target.(absentAware).PutIfAbsent
	}
	readBack, err := put(ctx, r, src, h.Sum64)
	m.c.dstRead.Add(readBack)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", ShortName(target.Class()), err)
	}
	return nil
}

// errNoSource means the source has no bytes for the name.
var errNoSource = errors.New("not in the source")

// inTarget decides from what target already holds for r whether r is done: proven (or, with
// Verify, compared) equal, or newer than the source. mismatch reports a proven copy whose
// bytes --verify found different, to be copied again.
func (m *Migrator) inTarget(ctx context.Context, table string, target Backend, r sqlstore.Row) (done, mismatch bool) {
	info, err := target.Stat(ctx, r.Name)
	if errors.Is(err, storage.ErrNotExist) {
		return false, false
	}
	if err != nil {
		m.fail(ctx, table, r.Name, err)
		return true, false
	}
	switch {
	case target.Proves(info, r) && !m.Verify:
		m.c.skipped.Add(1)
		m.deleteSource(ctx, table, r)
		return true, false
	case target.Proves(info, r):
		eq, err := m.equal(ctx, target, r)
		if err != nil {
			m.fail(ctx, table, r.Name, err)
			return true, false
		}
		if eq {
			m.c.skipped.Add(1)
			m.deleteSource(ctx, table, r)
			return true, false
		}
		m.c.mismatches.Add(1)
		return false, true
	case info.Size == r.Size && info.Stamp == "" || info.Size == r.Size && target.Class() == dfs.MountPointBackend:
		// Not migrate's copy of this version: eZ may have stored the name in the target after
		// the settings were switched. If it is newer than the source's file, it is the current
		// version: never overwrite it with the older source.
		src, err := m.Source.Stat(ctx, r.Name)
		if err != nil || !info.Modified.After(src.Modified) {
			return false, false
		}
		if m.Verify {
			if eq, err := m.equal(ctx, target, r); err == nil && eq {
				m.c.skipped.Add(1)
				return true, false
			}
		}
		m.c.targetNewer.Add(1)
		if m.OnTargetNewer != nil {
			m.OnTargetNewer(table, r.Name)
		}
		return true, false
	}
	return false, false
}

// equal reads r's bytes from the source and from target and compares their checksums.
func (m *Migrator) equal(ctx context.Context, target Backend, r sqlstore.Row) (bool, error) {
	want, err := m.hashOf(ctx, m.Source, r, &m.c.srcRead, true)
	if err != nil {
		return false, fmt.Errorf("verify: read the source: %w", err)
	}
	got, err := m.hashOf(ctx, target, r, &m.c.dstRead, false)
	if err != nil {
		return false, fmt.Errorf("verify: read %s: %w", ShortName(target.Class()), err)
	}
	return got == want, nil
}

// hashOf reads r.Size bytes of r's file from b (through the bandwidth limit when limited) and
// returns their checksum, counting the bytes in n.
func (m *Migrator) hashOf(ctx context.Context, b Backend, r sqlstore.Row, n *atomic.Int64, limited bool) (uint64, error) {
	obj, err := b.Open(ctx, r.Name)
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	if s := obj.Size(); s >= 0 && s != r.Size {
		return 0, fmt.Errorf("%d bytes, the row says %d", s, r.Size)
	}
	body, err := obj.Range(ctx, 0, r.Size)
	if err != nil {
		return 0, err
	}
	if limited {
		body = m.limit(ctx, body)
	}
	h := newHash()
	if _, err := io.Copy(h, &countingReader{r: body, n: n}); err != nil {
		return 0, err
	}
	return h.Sum64(), nil
}

// deleteSource removes r's source bytes if DeleteSource is set and r's row, locked against
// eZ's writers, still has the mtime and size that were copied.
func (m *Migrator) deleteSource(ctx context.Context, table string, r sqlstore.Row) {
	if !m.DeleteSource || m.DryRun {
		return
	}
	err := m.Store.WithRowLock(ctx, table, r.NameHash, func(cur sqlstore.Row, found bool) error {
		if !found || cur.MTime != r.MTime || cur.Size != r.Size || cur.Expired != r.Expired {
			return nil // changed since the copy: keep the source; a next run copies the new version
		}
		if err := m.Source.Remove(ctx, r.Name); err != nil {
			return err
		}
		m.c.deleted.Add(1)
		return nil
	})
	if err != nil {
		m.fail(ctx, table, r.Name, fmt.Errorf("delete from the source: %w", err))
	}
}

// fail counts a failed file, unless the run was interrupted (then it is left for the next run).
func (m *Migrator) fail(ctx context.Context, table, name string, err error) {
	if ctx.Err() != nil {
		return
	}
	m.c.failed.Add(1)
	if m.OnError != nil {
		m.OnError(table, name, err)
	}
}

// pair counts a file of size bytes for the pair from → to.
func (m *Migrator) pair(from, to string, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{ShortName(from), ShortName(to)}
	p := m.pairs[k]
	if p == nil {
		p = &Pair{From: k[0], To: k[1]}
		m.pairs[k] = p
	}
	p.Files++
	p.Bytes += size
}

func (m *Migrator) progress() {
	if m.OnProgress != nil {
		m.OnProgress(m.snapshot())
	}
}

// limit returns r read through the bandwidth limiter, if any.
func (m *Migrator) limit(ctx context.Context, r io.Reader) io.Reader {
	if m.limiter == nil {
		return r
	}
	return &limitedReader{ctx: ctx, r: r, l: m.limiter}
}

// limitedReader waits for the limiter before handing out bytes.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *rate.Limiter
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if b := l.l.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := l.r.Read(p)
	if n > 0 {
		if werr := l.l.WaitN(l.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// countingReader adds the bytes read to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}
