package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestFsckKnownInconsistencies builds a cluster on MariaDB, a mount point and a versitygw
// bucket (names containing /s3/ dispatched to S3) with one or more of each kind of
// inconsistency in both tables and both backends, and checks that fsck reports exactly those,
// as text and as JSON, with exit 1; that --repair fixes what it can (orphans and temporary files
// older than --min-age, missing files marked deleted, deleted rows' bytes purged with their
// rows, a row in the wrong table moved); and that fsck afterwards reports only what repair
// cannot fix (size mismatches, a wrong hash) and the orphan younger than --min-age.
func TestFsckKnownInconsistencies(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	store := testkit.MySQLStore(t, dsn)
	srv := testenv.S3Server(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "fsck-")
	mount := t.TempDir()
	ctx := context.Background()
	tables := dfs.DefaultTables()
	old := time.Now().Add(-2 * time.Hour).Unix()

	putBytes := func(name string, size int) {
		t.Helper()
		data := strings.Repeat("x", size)
		if strings.Contains(name, "/s3/") {
			if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(name),
				Body: strings.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
			return
		}
		writeFile(t, filepath.Join(mount, name), []byte(data), old)
	}
	putRow := func(table, name string, size int, mtime int64) {
		t.Helper()
		if table == "" {
			table = tables.For(name)
		}
		if err := store.Put(ctx, table, metadata.File{Name: name, Scope: "image", Size: int64(size), MTime: mtime}); err != nil {
			t.Fatal(err)
		}
	}
	const p = "var/s/"
	// Consistent: no finding.
	for _, n := range []string{p + "storage/images/ok.jpg", p + "cache/public/ok.css", p + "storage/s3/ok.jpg", p + "cache/s3/ok.css"} {
		putRow("", n, 10, 1700000000)
		putBytes(n, 10)
	}
	putRow("", p+"storage/images/purged.jpg", 10, -1700000000) // deleted, bytes gone: fine
	// Findings.
	for _, n := range []string{p + "storage/images/missing.jpg", p + "cache/public/missing.css", p + "storage/s3/missing.jpg", p + "cache/s3/missing.css"} {
		putRow("", n, 10, 1700000000)
	}
	for _, n := range []string{p + "storage/images/short.jpg", p + "cache/s3/short.css"} {
		putRow("", n, 10, 1700000000)
		putBytes(n, 4)
	}
	for _, n := range []string{p + "storage/images/del.jpg", p + "cache/s3/del.css"} {
		putRow("", n, 10, -1700000000)
		putBytes(n, 10)
	}
	putRow("ezdfsfile", p+"cache/public/inwrong.css", 10, 1700000000)
	putBytes(p+"cache/public/inwrong.css", 10)
	putRow("", p+"storage/images/badhash.jpg", 10, 1700000000)
	putBytes(p+"storage/images/badhash.jpg", 10)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE ezdfsfile SET name_hash = '0123456789abcdef0123456789abcdef' WHERE name_hash = ?",
		metadata.NameHash(p+"storage/images/badhash.jpg")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{p + "storage/images/orphan.jpg", p + "cache/public/orphan.css", p + "storage/s3/orphan.jpg",
		p + "storage/images/.a.jpg.ezdfsd-tmp-0a1b", p + "cache/public/b.css.tmp"} {
		putBytes(n, 3)
	}
	young := p + "storage/images/young-orphan.jpg"
	writeFile(t, filepath.Join(mount, young), []byte("abc"), time.Now().Add(time.Hour).Unix())

	settings := []string{"--metadata=mysql", "--mysql-dsn=" + dsn, "--mount-point=" + mount,
		"--path-backend=/s3/=" + dfs.S3Backend, "--s3-bucket=" + bucket, "--s3-endpoint=" + srv.Endpoint, "--s3-path-style",
		"--s3-access-key-id=" + srv.AccessKey, "--s3-secret-access-key=" + srv.SecretKey}
	want := []string{
		"missing_file ezdfsfile mountpoint " + p + "storage/images/missing.jpg",
		"missing_file ezdfsfile_cache mountpoint " + p + "cache/public/missing.css",
		"missing_file ezdfsfile s3 " + p + "storage/s3/missing.jpg",
		"missing_file ezdfsfile_cache s3 " + p + "cache/s3/missing.css",
		"size_mismatch ezdfsfile mountpoint " + p + "storage/images/short.jpg",
		"size_mismatch ezdfsfile_cache s3 " + p + "cache/s3/short.css",
		"deleted_bytes ezdfsfile mountpoint " + p + "storage/images/del.jpg",
		"deleted_bytes ezdfsfile_cache s3 " + p + "cache/s3/del.css",
		"wrong_table ezdfsfile mountpoint " + p + "cache/public/inwrong.css",
		"bad_hash ezdfsfile mountpoint " + p + "storage/images/badhash.jpg",
		"orphan_file - mountpoint " + p + "storage/images/orphan.jpg",
		"orphan_file - mountpoint " + p + "cache/public/orphan.css",
		"orphan_file - mountpoint " + young,
		"orphan_object - s3 " + p + "storage/s3/orphan.jpg",
		"temp_file - mountpoint " + p + "storage/images/.a.jpg.ezdfsd-tmp-0a1b",
		"temp_file - mountpoint " + p + "cache/public/b.css.tmp",
	}
	fsckJSON := func(extra ...string) (int, []string, string) {
		t.Helper()
		code, out, errOut := runCmd(t, nil, append(append([]string{"fsck", "--json"}, extra...), settings...)...)
		var got []string
		for line := range strings.Lines(out) {
			var fd struct{ Kind, Table, Backend, Name string }
			if err := json.Unmarshal([]byte(line), &fd); err != nil {
				t.Fatalf("stdout line %q is not a JSON finding: %v", line, err)
			}
			if fd.Table == "" {
				fd.Table = "-"
			}
			got = append(got, fmt.Sprintf("%s %s %s %s", fd.Kind, fd.Table, fd.Backend, fd.Name))
		}
		slices.Sort(got)
		return code, got, errOut
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

	code, got, errOut := fsckJSON()
	if code != 1 || !slices.Equal(got, sorted(want)) {
		t.Fatalf("fsck --json: exit %d\ngot  %q\nwant %q\nstderr: %s", code, got, sorted(want), errOut)
	}

	// Text: one line per finding, then counts and bytes per kind, table and backend.
	code, out, _ := runCmd(t, nil, append([]string{"fsck"}, settings...)...)
	t.Logf("fsck:\n%s", out)
	for _, w := range []string{
		"size_mismatch  ezdfsfile        mountpoint " + p + "storage/images/short.jpg (row says 10 bytes, found 4)",
		"  missing_file   ezdfsfile_cache  s3              1  0 bytes",
		"  deleted_bytes  ezdfsfile        mountpoint      1  10 bytes",
		"  orphan_file    -                mountpoint      3  9 bytes",
		"ezdfsd fsck: checked 15 rows, 11 files, 5 objects in ",
		"ezdfsd fsck: 16 finding(s)",
	} {
		if code != 1 || !strings.Contains(out, w) {
			t.Errorf("fsck text (exit %d) lacks %q", code, w)
		}
	}

	// Clean part, and an error.
	if code, out, _ := runCmd(t, nil, append([]string{"fsck", "--path", p + "storage/images/ok"}, settings...)...); code != 0 || !strings.Contains(out, "ezdfsd fsck: clean") {
		t.Errorf("fsck --path of a clean part: exit %d\n%s", code, out)
	}
	bad := slices.Clone(settings)
	bad[1] = "--mysql-dsn=nobody:x@tcp(127.0.0.1:1)/none"
	if code, _, errOut := runCmd(t, nil, append([]string{"fsck"}, bad...)...); code != 2 {
		t.Errorf("fsck with an unreachable database: exit %d, want 2\n%s", code, errOut)
	}

	// Repair: objects were just written, so the minimum age is one second here.
	time.Sleep(1100 * time.Millisecond)
	code, out, errOut = runCmd(t, nil, append([]string{"fsck", "--repair", "--min-age", "1s"}, settings...)...)
	t.Logf("fsck --repair:\n%s", out)
	if code != 1 || !strings.Contains(out, "ezdfsd fsck: repaired 12, repair failed 0") {
		t.Errorf("fsck --repair: exit %d\n%s%s", code, out, errOut)
	}
	code, got, _ = fsckJSON()
	after := []string{want[4], want[5], want[9], want[12]} // size_mismatch, bad_hash, the young orphan
	if code != 1 || !slices.Equal(got, sorted(after)) {
		t.Errorf("fsck after --repair: exit %d\ngot  %q\nwant %q", code, got, sorted(after))
	}
	var mtime int64
	var expired bool
	if err := db.QueryRow("SELECT mtime, expired FROM ezdfsfile WHERE name_hash = ?", metadata.NameHash(p+"storage/images/missing.jpg")).
		Scan(&mtime, &expired); err != nil || mtime != -1700000000 || !expired {
		t.Errorf("row of a missing file after repair: mtime %d expired %v (%v); want -1700000000, 1", mtime, expired, err)
	}
	// deleted_bytes: purged as ezdfsd purge does, bytes and row.
	for _, table := range []string{"ezdfsfile", "ezdfsfile_cache"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table + " WHERE name LIKE '%/del.%'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d deleted rows left after repair (%v); want them purged", table, n, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mount, p+"storage/images/del.jpg")); !os.IsNotExist(err) {
		t.Errorf("bytes of a deleted row after repair: %v; want them removed", err)
	}
	// wrong_table: the row moved to the cache table.
	var inStorage, inCache int
	if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM ezdfsfile WHERE name_hash = ?), (SELECT COUNT(*) FROM ezdfsfile_cache WHERE name_hash = ?)",
		metadata.NameHash(p+"cache/public/inwrong.css"), metadata.NameHash(p+"cache/public/inwrong.css")).Scan(&inStorage, &inCache); err != nil ||
		inStorage != 0 || inCache != 1 {
		t.Errorf("row in the wrong table after repair: %d in ezdfsfile, %d in ezdfsfile_cache (%v); want 0, 1", inStorage, inCache, err)
	}
	if _, err := os.Stat(filepath.Join(mount, young)); err != nil {
		t.Errorf("repair removed an orphan younger than --min-age: %v", err)
	}
}
