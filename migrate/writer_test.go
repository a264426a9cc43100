package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
)

// ezWriter stores names as eZ does with the mount point backend (spec §10.1): in one
// transaction it upserts the row with a new mtime, writes the bytes (the mtime as text), and
// commits; the row lock is held while the bytes are written.
type ezWriter struct {
	db    *sql.DB
	mp    *mountpoint.MountPoint
	mtime atomic.Int64
}

func (w *ezWriter) store(ctx context.Context, name string) error {
	mtime := w.mtime.Add(1)
	body := strconv.FormatInt(mtime, 10)
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "INSERT INTO `"+dfs.DefaultTables().For(name)+"` (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)"+
		" VALUES (?, ?, ?, 'image/jpeg', 'image', ?, ?, 0) ON DUPLICATE KEY UPDATE size = VALUES(size), mtime = VALUES(mtime), expired = 0",
		name, name, metadata.NameHash(name), len(body), mtime)
	if err != nil {
		return err
	}
	if err := w.mp.Put(ctx, name, strings.NewReader(body), int64(len(body)), ""); err != nil {
		return err
	}
	return tx.Commit()
}

// rowMTime reads name's live mtime (0 when none).
func rowMTime(t *testing.T, db *sql.DB, name string) int64 {
	t.Helper()
	var mtime int64
	err := db.QueryRow("SELECT mtime FROM `"+dfs.DefaultTables().For(name)+"` WHERE name_hash = ? AND expired = 0", metadata.NameHash(name)).Scan(&mtime)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return mtime
}

// TestMigrateConcurrentWriter migrates with --delete-source while eZ-like writers keep storing
// a small set of names on the mount point (mtimes grow from a start far from the first run's
// copies, each store writes its mtime as the bytes). Afterwards the last store of every name is
// still somewhere: on the mount point or in the bucket (no source file was removed once a newer
// version had been written); and a second run, with the writers stopped, leaves every live
// row's bytes in the bucket.
func TestMigrateConcurrentWriter(t *testing.T) {
	c := newCluster(t)
	mp, err := mountpoint.New(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mp.Close() })
	w := &ezWriter{db: c.db, mp: mp}
	w.mtime.Store(1_700_000_000)
	ctx := context.Background()
	var names []string
	for i := range 40 {
		// keep.png stays on the mount point (the rule below sends only .jpg to S3): the
		// directory is never emptied, so a removal never races a writer's mkdir.
		names = append(names, fmt.Sprintf("%sstorage/images/w/%02d.jpg", site, i))
	}
	c.add(site+"storage/images/w/keep.png", "image/png", []byte("keep"), 1_600_000_000)
	for _, n := range names {
		if err := w.store(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	jpgToS3 := dfs.Dispatch{Rules: []dfs.Rule{{Key: ".jpg", Backend: dfs.S3Backend}}, Default: dfs.MountPointBackend}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stores atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := w.store(ctx, names[rand.IntN(len(names))]); err != nil {
					t.Errorf("writer: %v", err)
					return
				}
				stores.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	for range 3 {
		m := c.migrator(c.mount, jpgToS3)
		m.DeleteSource = true
		m.OnError = func(table, name string, err error) {
			// A name stored again after its copy keeps its source and is copied again; a failure
			// here is a name that kept changing during every copy, not a loss.
			t.Logf("%s %s: %v", table, name, err)
		}
		if _, err := m.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d stores during the runs", stores.Load())

	for _, n := range names {
		want := strconv.FormatInt(rowMTime(t, c.db, n), 10)
		onMount, _ := os.ReadFile(filepath.Join(c.dir, n))
		inS3, _ := c.object(n)
		if string(onMount) != want && string(inS3) != want {
			t.Errorf("%s: the last store (%s) is lost: mount point has %q, bucket %q", n, want, onMount, inS3)
		}
	}
	m := c.migrator(c.mount, jpgToS3)
	m.DeleteSource = true
	rep := c.run(m)
	for _, n := range names {
		want := strconv.FormatInt(rowMTime(t, c.db, n), 10)
		if got, _ := c.object(n); string(got) != want {
			t.Errorf("%s: the bucket has %q after the last run, the row says %s", n, got, want)
		}
		if _, err := os.Lstat(filepath.Join(c.dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s: still on the mount point after the last run (%v)", n, err)
		}
	}
	if rep.FilesFailed != 0 {
		t.Errorf("last run: %+v", rep)
	}
}

// TestMigrateResumeCopiesChanged: after a complete run, eZ stores one name again with bytes of
// the same size; the next run proves every other name from HeadObject and copies that one only.
func TestMigrateResumeCopiesChanged(t *testing.T) {
	c := newCluster(t)
	moved, _ := mixed(t, c)
	c.run(c.migrator(c.mount, toS3))
	name := site + "storage/images/with space/and space.png"
	c.add(name, "image/png", randomBytes(t, len(c.live[name])), 1_800_000_000)
	rep := c.run(c.migrator(c.mount, toS3))
	if rep.FilesCopied != 1 || rep.FilesSkipped != int64(len(moved)-1) || rep.SourceBytesRead != int64(len(c.live[name])) {
		t.Fatalf("second run: %+v, want only %s copied (%d bytes read)", rep, name, len(c.live[name]))
	}
	if got, _ := c.object(name); string(got) != string(c.live[name]) {
		t.Error("the bucket kept the old bytes")
	}
}

// TestMigrateTargetNewer: after the settings switch eZ stores a name in S3 itself (no migrate
// stamp, the same size as the old file still on the mount point, a new row mtime). A run then
// leaves that object alone instead of copying the older mount point file over it.
func TestMigrateTargetNewer(t *testing.T) {
	c := newCluster(t)
	moved, _ := mixed(t, c)
	c.run(c.migrator(c.mount, toS3))
	name := site + "storage/images/a/1-1-eng-GB/photo.jpg"
	newer := randomBytes(t, len(c.live[name]))
	if _, err := c.admin.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(c.bucket),
		Key: aws.String(name), Body: bytes.NewReader(newer)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.Exec("UPDATE ezdfsfile SET mtime = mtime + 100 WHERE name_hash = ?", metadata.NameHash(name)); err != nil {
		t.Fatal(err)
	}
	rep := c.run(c.migrator(c.mount, toS3))
	if rep.FilesTargetNewer != 1 || rep.FilesCopied != 0 || rep.FilesSkipped != int64(len(moved)-1) {
		t.Errorf("report %+v: want the name eZ stored in S3 left alone, the rest proven", rep)
	}
	if got, _ := c.object(name); !bytes.Equal(got, newer) {
		t.Error("the older mount point file was copied over eZ's newer object")
	}
}

// TestMigrateIncludeDeleted: --include-deleted also copies the bytes of deleted rows (still
// served by nothing, but kept until a purge), and a second run proves them.
func TestMigrateIncludeDeleted(t *testing.T) {
	c := newCluster(t)
	name := site + "storage/images/deleted/gone.jpg"
	data := randomBytes(t, 500)
	c.add(name, "image/jpeg", data, -1_700_000_100)
	m := c.migrator(c.mount, toS3)
	m.IncludeDeleted = true
	if rep := c.run(m); rep.FilesCopied != 1 {
		t.Fatalf("report %+v, want the deleted row's file copied", rep)
	}
	if got, _ := c.object(name); !bytes.Equal(got, data) {
		t.Error("the deleted row's bytes are not in the bucket")
	}
	m = c.migrator(c.mount, toS3)
	m.IncludeDeleted = true
	if rep := c.run(m); rep.FilesSkipped != 1 || rep.FilesCopied != 0 {
		t.Errorf("second run %+v, want it proven", rep)
	}
}
