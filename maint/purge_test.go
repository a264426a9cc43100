package maint_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/maint"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
)

// ezWriter stores and deletes cluster files as eZ's DFS handler does (spec §3.1, §10.1): a store
// is one transaction that upserts the row with a new mtime and expired = 0, then writes the
// bytes (atomically, temp file + rename), then commits; a delete is
// UPDATE ... SET mtime = -ABS(mtime), expired = 1. The bytes of a stored file are its mtime, so
// a reader can tell which store they came from.
type ezWriter struct {
	db     *sql.DB
	mp     *mountpoint.MountPoint
	tables dfs.Tables
	mtime  atomic.Int64
}

func (w *ezWriter) store(ctx context.Context, name string) error {
	mtime := w.mtime.Add(1)
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "INSERT INTO `"+w.tables.For(name)+"` (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)"+
		" VALUES (?, ?, ?, 'image/jpeg', 'image', ?, ?, 0) ON DUPLICATE KEY UPDATE"+
		" size = VALUES(size), mtime = VALUES(mtime), expired = 0",
		name, name, metadata.NameHash(name), len(strconv.FormatInt(mtime, 10)), mtime)
	if err != nil {
		return err
	}
	body := strconv.FormatInt(mtime, 10)
	if err := w.mp.Put(ctx, name, strings.NewReader(body), int64(len(body)), ""); err != nil {
		return err // rolled back: the row keeps its previous state, as in eZ's _protect
	}
	return tx.Commit()
}

func (w *ezWriter) delete(ctx context.Context, name string) error {
	_, err := w.db.ExecContext(ctx, "UPDATE `"+w.tables.For(name)+"` SET mtime = -ABS(mtime), expired = 1 WHERE name_hash = ?",
		metadata.NameHash(name))
	return err
}

// TestPurgeConcurrentWriter runs purges while eZ-like writers keep re-creating, refreshing and
// deleting a small set of names on MariaDB and a mount point. Afterwards every live row must
// have its bytes, and the bytes must be those of the row's last store (no purge removed or
// left stale the file of a name eZ had just re-created); after a last purge no expired row and
// no file without a row is left.
func TestPurgeConcurrentWriter(t *testing.T) {
	c := newEZCluster(t)
	store, db, dir, bytesMP, tables, w := c.store, c.db, c.dir, c.bytes, c.tables, c.writer
	w.mtime.Store(1_000_000)

	// Every row deleted goes to an audit table, written by the database itself: a purge that
	// deletes a row eZ has just re-created (expired = 0) shows there whatever it reports.
	if _, err := db.Exec("CREATE TABLE deleted_rows (tbl varchar(64), name text, mtime int, expired tinyint)"); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables.Names() {
		if _, err := db.Exec("CREATE TRIGGER audit_" + table + " AFTER DELETE ON `" + table + "` FOR EACH ROW" +
			" INSERT INTO deleted_rows VALUES ('" + table + "', OLD.name, OLD.mtime, OLD.expired)"); err != nil {
			t.Fatalf("audit trigger: %v", err)
		}
	}

	var names []string
	for i := range 24 {
		kind := "storage/images"
		if i%3 == 0 {
			kind = "cache/public"
		}
		names = append(names, fmt.Sprintf("var/site/%s/d%d/f%d.jpg", kind, i%4, i))
	}
	ctx := context.Background()
	for _, n := range names {
		if err := w.store(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	iterations := 150
	if testenv.Slow() {
		iterations = 4000
	}
	var (
		wg                 sync.WaitGroup
		stores, failStores atomic.Int64
		writerErr          atomic.Value
	)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			for range iterations {
				n := names[rnd.IntN(len(names))]
				var err error
				st := time.Now()
				if rnd.IntN(2) == 0 {
					err = w.delete(ctx, n)
				} else if err = w.store(ctx, n); err == nil {
					stores.Add(1)
				} else if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file") {
					// The purge removed the (empty) directory under a store in flight: eZ's
					// store fails and rolls back the same way. Nothing to check.
					failStores.Add(1)
					err = nil
				}
				if d := time.Since(st); d > 200*time.Millisecond {
					t.Logf("slow op %v on %s", d, n)
				}
				if err != nil {
					writerErr.Store(err)
					return
				}
			}
		}()
	}
	newPurge := func() *maint.Purge {
		return &maint.Purge{
			Store: store, Tables: tables.Names(), Dispatch: dfs.Dispatch{},
			Backends: map[string]maint.Bytes{dfs.MountPointBackend: slowNFS{bytesMP}},
			Batch:    5, Workers: 4,
			OnError: func(table string, r sqlstore.Row, err error) { t.Errorf("purge %s %s: %v", table, r.Name, err) },
		}
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	// The checker holds a shared lock on a live row while it reads the bytes: nothing may
	// remove them meanwhile (eZ's delete needs the row lock, and so does a correct purge).
	checkerDone := make(chan struct{})
	var checks atomic.Int64
	go func() {
		defer close(checkerDone)
		for i := 0; ; i++ {
			select {
			case <-writersDone:
				return
			default:
			}
			name := names[i%len(names)]
			if err := checkLocked(ctx, db, tables.For(name), name, dir); err != nil {
				t.Errorf("during the run: %v", err)
				return
			}
			checks.Add(1)
		}
	}()
	done := make(chan struct{})
	var purged, skipped atomic.Int64
	var purgeErr error
	go func() {
		defer close(done)
		for {
			select {
			case <-writersDone:
				return
			default:
			}
			rep, err := newPurge().Run(ctx)
			if err != nil {
				purgeErr = err
				return
			}
			purged.Add(rep.Rows)
			skipped.Add(rep.Skipped)
		}
	}()
	wg.Wait()
	<-done
	<-checkerDone
	if err, _ := writerErr.Load().(error); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if purgeErr != nil {
		t.Fatalf("purge: %v", purgeErr)
	}
	t.Logf("%d stores (%d failed on a removed directory), %d rows purged, %d re-created rows kept, %d locked checks", stores.Load(), failStores.Load(), purged.Load(), skipped.Load(), checks.Load())
	if purged.Load() == 0 {
		t.Fatal("no row was purged while the writers ran: the test proved nothing")
	}

	var audited, liveDeleted int
	if err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(expired = 0), 0) FROM deleted_rows").Scan(&audited, &liveDeleted); err != nil {
		t.Fatal(err)
	}
	if liveDeleted != 0 || int64(audited) != purged.Load() {
		t.Errorf("the database saw %d rows deleted, %d of them live (expired = 0); the purges reported %d", audited, liveDeleted, purged.Load())
	}

	checkLive := func() map[string]bool {
		live := map[string]bool{}
		for _, table := range tables.Names() {
			rows, err := db.QueryContext(ctx, "SELECT name, mtime, expired FROM `"+table+"`")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var name string
				var mtime int64
				var expired bool
				if err := rows.Scan(&name, &mtime, &expired); err != nil {
					t.Fatal(err)
				}
				live[name] = !expired
				if expired {
					continue
				}
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Errorf("live row %s (mtime %d) lost its bytes: %v", name, mtime, err)
				} else if !bytes.Equal(got, []byte(strconv.FormatInt(mtime, 10))) {
					t.Errorf("live row %s (mtime %d) has the bytes of store %s", name, mtime, got)
				}
			}
			rows.Close()
		}
		return live
	}
	checkLive()

	// A last purge, alone: every deleted name is gone from the tables and the mount point.
	if _, err := newPurge().Run(ctx); err != nil {
		t.Fatal(err)
	}
	live := checkLive()
	for name, ok := range live {
		if !ok {
			t.Errorf("expired row %s left after the last purge", name)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name, _ := filepath.Rel(dir, p)
		if !live[filepath.ToSlash(name)] {
			t.Errorf("file %s left without a live row", name)
		}
		return nil
	})
}

// slowNFS makes each removal take a few milliseconds, as on a busy NFS server, so that a purge
// that removes bytes outside the row lock (e.g. after its commit, as eZ's _purgeByLike does)
// lets the writers re-create the name in between, and the test sees it.
type slowNFS struct{ maint.Bytes }

func (s slowNFS) Remove(ctx context.Context, name string) error {
	time.Sleep(3 * time.Millisecond)
	return s.Bytes.Remove(ctx, name)
}

// checkLocked reads name's row with a shared lock and, if it is live, checks that the file
// holds the bytes of that row's store.
func checkLocked(ctx context.Context, db *sql.DB, table, name, dir string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var mtime int64
	err = tx.QueryRowContext(ctx, "SELECT mtime FROM `"+table+"` WHERE name_hash = ? AND expired = 0 LOCK IN SHARE MODE",
		metadata.NameHash(name)).Scan(&mtime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("live row %s (mtime %d) lost its bytes: %w", name, mtime, err)
	}
	if string(got) != strconv.FormatInt(mtime, 10) {
		return fmt.Errorf("live row %s (mtime %d) has the bytes of store %s", name, mtime, got)
	}
	return nil
}

// ezCluster is a MariaDB database with eZ's tables and a mount point, an eZ-like writer on
// them, and the mount point as purge and fsck see it; everything is closed when the test ends.
type ezCluster struct {
	store  *sqlstore.Store
	db     *sql.DB
	dir    string
	bytes  *maint.MountPoint
	tables dfs.Tables
	writer *ezWriter
}

func newEZCluster(t *testing.T) ezCluster {
	t.Helper()
	dsn := testenv.MySQLDatabase(t)
	store := testkit.MySQLStore(t, dsn)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := t.TempDir()
	mp, err := mountpoint.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mp.Close() })
	bytesMP, err := maint.OpenMountPoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bytesMP.Close() })
	tables := dfs.DefaultTables()
	w := &ezWriter{db: db, mp: mp, tables: tables}
	return ezCluster{store: store, db: db, dir: dir, bytes: bytesMP, tables: tables, writer: w}
}
