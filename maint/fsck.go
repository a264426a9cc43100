package maint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/maint/walk"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Kind names a kind of finding; the values are stable (JSON output, metrics labels).
type Kind string

// The kinds of findings of Fsck.
const (
	// KindMissingFile is a live row whose bytes are missing. Repair marks the row deleted.
	KindMissingFile Kind = "missing_file"
	// KindSizeMismatch is a live row whose bytes have another size than the row says.
	KindSizeMismatch Kind = "size_mismatch"
	// KindDeletedBytes is a deleted row (mtime < 0 or expired = 1) whose bytes are still
	// there: what `ezdfsd purge` removes. Repair purges the row as ezdfsd purge does (same
	// locked protocol: bytes and row go, a name eZ re-created meanwhile keeps both) when it
	// has expired = 1 and its original mtime is older than MinAge.
	KindDeletedBytes Kind = "deleted_bytes"
	// KindBadHash is a row whose name_hash is not md5(name).
	KindBadHash Kind = "bad_hash"
	// KindWrongTable is a row in the table that the split rule does not choose for its name.
	// Repair moves it there in one transaction when that table has no row for its name_hash
	// and its name_hash is md5(name); otherwise it stays and is reported.
	KindWrongTable Kind = "wrong_table"
	// KindOrphanFile is a file on the mount point with no row. Repair removes it when older
	// than MinAge.
	KindOrphanFile Kind = "orphan_file"
	// KindOrphanObject is an object in the bucket with no row. Repair removes it when older
	// than MinAge.
	KindOrphanObject Kind = "orphan_object"
	// KindTempFile is a temporary file of a write left on the mount point. Repair removes it
	// when older than MinAge.
	KindTempFile Kind = "temp_file"
)

// Backend names in findings.
const (
	BackendMountPoint = "mountpoint"
	BackendS3         = "s3"
)

// Finding is one inconsistency.
type Finding struct {
	Kind Kind `json:"kind"`
	// Table is the row's table (row findings) or "" (files and objects without a row).
	Table string `json:"table,omitempty"`
	// Backend is where the bytes are or should be: "mountpoint" or "s3".
	Backend string `json:"backend"`
	// Name is the cluster name (row name, file path below the mount point, object key).
	Name string `json:"name"`
	// NameHash is the row's name_hash, for row findings.
	NameHash string `json:"name_hash,omitempty"`
	// RowSize is the size the row records, for row findings.
	RowSize int64 `json:"row_size,omitempty"`
	// Size is the size of the bytes found (0 when missing).
	Size int64 `json:"size"`
	// Repaired is set when --repair fixed it; RepairError when it tried and failed.
	Repaired    bool   `json:"repaired,omitempty"`
	RepairError string `json:"repair_error,omitempty"`
}

// FsckStore is what Fsck needs of the metadata store (sqlstore.Store); MarkDeleted,
// PurgeRows and MoveRow only with Repair.
type FsckStore interface {
	walk.Pager
	RowPurger
	Existing(ctx context.Context, table string, names []string) (map[string]bool, error)
	MarkDeleted(ctx context.Context, table, nameHash string) (bool, error)
	MoveRow(ctx context.Context, from, to, nameHash string) (bool, error)
}

// DefaultFsckWorkers bounds the stat / HeadObject calls in flight.
const DefaultFsckWorkers = 8

// DefaultMinAge is how old an orphan or temporary file must be before Repair removes it, so
// that eZ's writes in flight (bytes written before the row commits) are never hit.
const DefaultMinAge = time.Hour

// existBatch is the number of names looked up per query in the storage passes.
const existBatch = 500

// Fsck compares the rows of every table with the bytes in the backend the dispatch rules
// choose for each name, then walks the mount point and the bucket for bytes without a row.
// Without Repair it only reads.
type Fsck struct {
	Store    FsckStore
	Tables   dfs.Tables
	Dispatch dfs.Dispatch
	Backends map[string]Bytes
	// MountPoint is the mount point's directory to walk ("" when not used).
	MountPoint string
	// Bucket is listed for orphan objects (nil when not used).
	Bucket walk.Lister
	// Prefix limits the check to names starting with it.
	Prefix string
	// Repair fixes what can be fixed (see the Kind constants); MinAge (0: DefaultMinAge)
	// protects recent files.
	Repair bool
	MinAge time.Duration
	// Batch is the rows read per query; Workers the stat calls in flight.
	Batch, Workers int
	// OnFinding is called for every finding, one call at a time.
	OnFinding func(Finding)
	// OnProgress, if set, is called after every row and every file or object checked.
	OnProgress func(rows, files int64)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// FsckReport sums a run.
type FsckReport struct {
	// Rows, Files and Objects are the rows, mount point files and bucket objects checked.
	Rows, Files, Objects int64
	// Findings counts findings by kind; Bytes sums their Size by kind.
	Findings map[Kind]int64
	Bytes    map[Kind]int64
	// Repaired and RepairFailed count repairs done and failed.
	Repaired, RepairFailed int64
	// Duration is the run's wall time.
	Duration time.Duration
}

// Total returns the number of findings.
func (r FsckReport) Total() int64 {
	var n int64
	for _, v := range r.Findings {
		n += v
	}
	return n
}

// Run checks everything. It returns the report so far with ctx's error when ctx ends, and an
// error when a table, the mount point or the bucket cannot be read.
func (f *Fsck) Run(ctx context.Context) (FsckReport, error) {
	start := time.Now()
	st := &fsckState{f: f, rep: FsckReport{Findings: map[Kind]int64{}, Bytes: map[Kind]int64{}}}
	err := f.rows(ctx, st)
	if err == nil && f.MountPoint != "" {
		err = f.files(ctx, st)
	}
	if err == nil && f.Bucket != nil {
		err = f.objects(ctx, st)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	rep := st.rep
	rep.Duration = time.Since(start)
	return rep, err
}

type fsckState struct {
	f   *Fsck
	mu  sync.Mutex
	rep FsckReport
}

func (st *fsckState) report(fd Finding) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.rep.Findings[fd.Kind]++
	st.rep.Bytes[fd.Kind] += fd.Size
	if fd.Repaired {
		st.rep.Repaired++
	}
	if fd.RepairError != "" {
		st.rep.RepairFailed++
	}
	if st.f.OnFinding != nil {
		st.f.OnFinding(fd)
	}
}

func (st *fsckState) progress(rows, files, objects int64) {
	st.mu.Lock()
	st.rep.Rows += rows
	st.rep.Files += files
	st.rep.Objects += objects
	r, fl := st.rep.Rows, st.rep.Files+st.rep.Objects
	st.mu.Unlock()
	if st.f.OnProgress != nil {
		st.f.OnProgress(r, fl)
	}
}

func (f *Fsck) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fsck) minAge() time.Duration {
	if f.MinAge > 0 {
		return f.MinAge
	}
	return DefaultMinAge
}

func backendName(class string) string {
	if class == dfs.S3Backend {
		return BackendS3
	}
	return BackendMountPoint
}

// rows is the first pass: every row against its bytes, Workers stats in flight.
func (f *Fsck) rows(ctx context.Context, st *fsckState) error {
	workers := f.Workers
	if workers <= 0 {
		workers = DefaultFsckWorkers
	}
	for _, table := range f.Tables.Names() {
		g, gctx := errgroup.WithContext(ctx)
		ch := make(chan sqlstore.Row, workers)
		for range workers {
			g.Go(func() error {
				for r := range ch {
					if err := f.row(gctx, st, table, r); err != nil {
						return err
					}
					st.progress(1, 0, 0)
				}
				return nil
			})
		}
		werr := walk.Rows(gctx, f.Store, table, sqlstore.PageFilter{NamePrefix: f.Prefix}, f.Batch, func(r sqlstore.Row) error {
			select {
			case ch <- r:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
		close(ch)
		gerr := g.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
		if gerr != nil {
			return fmt.Errorf("fsck %s: %w", table, gerr)
		}
		if werr != nil {
			return fmt.Errorf("fsck %s: %w", table, werr)
		}
	}
	return nil
}

func (f *Fsck) row(ctx context.Context, st *fsckState, table string, r sqlstore.Row) error {
	class := f.Dispatch.BackendFor(r.Name)
	base := Finding{Table: table, Backend: backendName(class), Name: r.Name, NameHash: r.NameHash, RowSize: r.Size}
	if r.NameHash != metadata.NameHash(r.Name) {
		fd := base
		fd.Kind = KindBadHash
		st.report(fd)
	}
	if want := f.Tables.For(r.Name); want != table {
		fd := base
		fd.Kind = KindWrongTable
		if f.Repair && f.moveRow(ctx, &fd, table, want, r) {
			// The checks below are about the row where it now is.
			table, base.Table = want, want
		}
		st.report(fd)
	}
	b := f.Backends[class]
	if b == nil {
		return fmt.Errorf("no %s backend configured for %q", class, r.Name)
	}
	size, err := b.Stat(ctx, r.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotExist) {
		return err
	}
	switch {
	case r.Deleted() && exists:
		fd := base
		fd.Kind, fd.Size = KindDeletedBytes, size
		if f.Repair {
			f.purgeRow(ctx, &fd, table, r)
		}
		st.report(fd)
	case r.Deleted():
	case !exists:
		fd := base
		fd.Kind = KindMissingFile
		if f.Repair {
			// Re-check first: eZ may have written the bytes since the stat.
			if _, err := b.Stat(ctx, r.Name); errors.Is(err, storage.ErrNotExist) {
				if _, err := f.Store.MarkDeleted(ctx, table, r.NameHash); err != nil {
					fd.RepairError = err.Error()
				} else {
					fd.Repaired = true
				}
			}
		}
		st.report(fd)
	case size != r.Size:
		fd := base
		fd.Kind, fd.Size = KindSizeMismatch, size
		st.report(fd)
	}
	return nil
}

// moveRow moves a row from the wrong table to the one the split rule chooses (want), unless
// its name_hash is wrong (a row for the same name could then hide under the right hash) or want
// already has a row for it; it reports whether the row moved.
func (f *Fsck) moveRow(ctx context.Context, fd *Finding, table, want string, r sqlstore.Row) bool {
	if r.NameHash != metadata.NameHash(r.Name) {
		fd.RepairError = "not moved: its name_hash is not md5(name)"
		return false
	}
	moved, err := f.Store.MoveRow(ctx, table, want, r.NameHash)
	switch {
	case err != nil:
		fd.RepairError = err.Error()
	case !moved:
		fd.RepairError = "not moved: " + want + " already has a row for this name_hash (or the row is gone)"
	default:
		fd.Repaired = true
	}
	return moved
}

// purgeRow purges a deleted row whose bytes are still there through the purge protocol
// (purgeRows: the row locked, still expired, bytes removed, row deleted), if it has
// expired = 1 and its original mtime is older than MinAge (eZ records no deletion time). A
// row eZ re-created meanwhile is left with its bytes, as is a row with mtime < 0 but
// expired = 0 (ezdfsd purge leaves those too).
func (f *Fsck) purgeRow(ctx context.Context, fd *Finding, table string, r sqlstore.Row) {
	if !r.Expired || f.now().Sub(time.Unix(abs(r.MTime), 0)) < f.minAge() {
		return
	}
	res, err := purgeRows(ctx, f.Store, f.Dispatch, f.Backends, table, []string{r.NameHash})
	switch {
	case err != nil:
		fd.RepairError = err.Error()
	case len(res.Failed) > 0:
		fd.RepairError = res.Failed[0].Err.Error()
	case len(res.Purged) > 0:
		fd.Repaired = true
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// pending is a file or object waiting for its batched row lookup.
type pending struct {
	name     string
	size     int64
	modified time.Time
	// info, for files, reads size and modified (an lstat, only for the files reported).
	info func() (int64, time.Time, error)
}

// stat fills size and modified of a file from its info.
func (p *pending) stat() error {
	if p.info == nil {
		return nil
	}
	var err error
	p.size, p.modified, err = p.info()
	return err
}

// hasRows returns, for each name of batch, whether any table has a row for it.
func (f *Fsck) hasRows(ctx context.Context, batch []pending) (map[string]bool, error) {
	names := make([]string, len(batch))
	for i, p := range batch {
		names[i] = p.name
	}
	found := map[string]bool{}
	for _, table := range f.Tables.Names() {
		got, err := f.Store.Existing(ctx, table, names)
		if err != nil {
			return nil, err
		}
		for n := range got {
			found[n] = true
		}
	}
	return found, nil
}

// orphans checks a batch of files (or objects) for rows and reports those without one.
func (f *Fsck) orphans(ctx context.Context, st *fsckState, kind Kind, backend string, b Bytes, batch []pending) error {
	found, err := f.hasRows(ctx, batch)
	if err != nil {
		return err
	}
	for _, p := range batch {
		if found[p.name] {
			continue
		}
		if err := p.stat(); errors.Is(err, fs.ErrNotExist) {
			continue // gone meanwhile
		} else if err != nil {
			return err
		}
		fd := Finding{Kind: kind, Backend: backend, Name: p.name, Size: p.size}
		f.repairOrphan(ctx, &fd, b, p)
		st.report(fd)
	}
	return nil
}

// repairOrphan removes an orphan old enough, after checking once more that no row appeared.
func (f *Fsck) repairOrphan(ctx context.Context, fd *Finding, b Bytes, p pending) {
	if !f.Repair || f.now().Sub(p.modified) < f.minAge() {
		return
	}
	if fd.Kind != KindTempFile {
		found, err := f.hasRows(ctx, []pending{p})
		if err != nil {
			fd.RepairError = err.Error()
			return
		}
		if len(found) > 0 {
			return
		}
	}
	if err := b.Remove(ctx, p.name); err != nil {
		fd.RepairError = err.Error()
		return
	}
	fd.Repaired = true
}

// files is the mount point pass: temporary files and files without a row.
func (f *Fsck) files(ctx context.Context, st *fsckState) error {
	b := f.Backends[dfs.MountPointBackend]
	var batch []pending
	flush := func() error {
		err := f.orphans(ctx, st, KindOrphanFile, BackendMountPoint, b, batch)
		st.progress(0, int64(len(batch)), 0)
		batch = batch[:0]
		return err
	}
	err := walk.Files(ctx, f.MountPoint, f.Prefix, func(file walk.File) error {
		p := pending{name: file.Name, info: file.Info}
		if file.Temp {
			if err := p.stat(); errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil {
				return err
			}
			fd := Finding{Kind: KindTempFile, Backend: BackendMountPoint, Name: file.Name, Size: p.size}
			f.repairOrphan(ctx, &fd, b, p)
			st.report(fd)
			st.progress(0, 1, 0)
			return nil
		}
		batch = append(batch, p)
		if len(batch) >= existBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("fsck mount point: %w", err)
	}
	return nil
}

// objects is the bucket pass: objects without a row.
func (f *Fsck) objects(ctx context.Context, st *fsckState) error {
	b := f.Backends[dfs.S3Backend]
	var batch []pending
	flush := func() error {
		err := f.orphans(ctx, st, KindOrphanObject, BackendS3, b, batch)
		st.progress(0, 0, int64(len(batch)))
		batch = batch[:0]
		return err
	}
	err := walk.Objects(ctx, f.Bucket, f.Prefix, func(o walk.Object) error {
		batch = append(batch, pending{name: o.Key, size: o.Size, modified: o.Modified})
		if len(batch) >= existBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("fsck bucket: %w", err)
	}
	return nil
}
