package maint_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/maint"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// racingBytes is the mount point where eZ re-creates name (once) right after fsck has seen
// its bytes: between fsck's read of the deleted row and its repair.
type racingBytes struct {
	maint.Bytes
	name     string
	once     sync.Once
	recreate func()
}

func (b *racingBytes) Stat(ctx context.Context, name string) (int64, error) {
	size, err := b.Bytes.Stat(ctx, name)
	if name == b.name {
		b.once.Do(b.recreate)
	}
	return size, err
}

// TestFsckRepairRaces checks the two repairs that touch rows against what may happen meanwhile,
// on MariaDB and a mount point: a deleted row's bytes go through the purge protocol, so when eZ
// re-creates the name between fsck's read and the repair, the new row and its new bytes stay
// (an fsck that removed the bytes it had seen would lose them); and a row in the wrong table is
// not moved when the right table already has a row for its name_hash (both stay, reported).
func TestFsckRepairRaces(t *testing.T) {
	c := newEZCluster(t)
	store, db, dir, bytesMP, tables, w := c.store, c.db, c.dir, c.bytes, c.tables, c.writer
	w.mtime.Store(1_000_000) // 1970: older than any --min-age
	ctx := context.Background()

	const recreated = "var/site/storage/images/recreated.jpg"
	if err := w.store(ctx, recreated); err != nil {
		t.Fatal(err)
	}
	if err := w.delete(ctx, recreated); err != nil {
		t.Fatal(err)
	}
	const twice = "var/site/cache/public/twice.css" // rows in both tables
	if err := w.store(ctx, twice); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO ezdfsfile (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)"+
		" SELECT name, name_trunk, name_hash, datatype, scope, size, mtime, expired FROM ezdfsfile_cache WHERE name_hash = ?",
		metadata.NameHash(twice)); err != nil {
		t.Fatal(err)
	}

	var findings []maint.Finding
	f := &maint.Fsck{
		Store: store, Tables: tables,
		Backends: map[string]maint.Bytes{dfs.MountPointBackend: &racingBytes{Bytes: bytesMP, name: recreated, recreate: func() {
			if err := w.store(ctx, recreated); err != nil {
				t.Errorf("eZ's re-creation: %v", err)
			}
		}}},
		Repair: true, OnFinding: func(fd maint.Finding) { findings = append(findings, fd) },
	}
	if _, err := f.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var sawDeleted, sawWrong bool
	for _, fd := range findings {
		switch {
		case fd.Kind == maint.KindDeletedBytes && fd.Name == recreated:
			sawDeleted = true
			if fd.Repaired {
				t.Errorf("deleted_bytes of a name eZ re-created meanwhile reported repaired")
			}
		case fd.Kind == maint.KindWrongTable && fd.Name == twice:
			sawWrong = true
			if fd.Repaired || !strings.Contains(fd.RepairError, "already has a row") {
				t.Errorf("wrong_table with a row in the right table too: repaired %v, error %q; want not moved", fd.Repaired, fd.RepairError)
			}
		}
	}
	if !sawDeleted || !sawWrong {
		t.Fatalf("findings %+v lack deleted_bytes of %s or wrong_table of %s", findings, recreated, twice)
	}

	var mtime int64
	var expired bool
	if err := db.QueryRow("SELECT mtime, expired FROM ezdfsfile WHERE name_hash = ?", metadata.NameHash(recreated)).Scan(&mtime, &expired); err != nil || expired {
		t.Errorf("row of the re-created name: mtime %d expired %v (%v); want live", mtime, expired, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, recreated)); err != nil || string(b) != "1000003" {
		t.Errorf("bytes of the re-created name: %q, %v; want those of its last store, \"1000003\"", b, err)
	}
	for _, table := range tables.Names() {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE name_hash = ?", metadata.NameHash(twice)).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d rows of %s (%v); want the one it had", table, n, twice, err)
		}
	}
}
