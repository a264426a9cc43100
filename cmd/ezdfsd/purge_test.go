package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// maintCluster makes a SQLite cluster with rows and their files on a mount point; names with a
// negative mtime are deleted (expired = 1). It returns the settings flags and the store.
func maintCluster(t *testing.T, files map[string]int64) ([]string, *sqlstore.Store, string) {
	t.Helper()
	dir, mount := t.TempDir(), t.TempDir()
	db := filepath.Join(dir, "db.sqlite")
	tables := dfs.DefaultTables()
	s, err := sqlstore.OpenSQLite(context.Background(), db, sqlstore.Config{Tables: tables.Names()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for name, mtime := range files {
		scope := "image"
		if strings.Contains(name, "/media/") {
			scope = "mediafile"
		}
		if err := s.Put(context.Background(), tables.For(name), metadata.File{Name: name, Scope: scope, Size: int64(len(name)), MTime: mtime}); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(mount, name), []byte(name), 0)
	}
	return []string{"--metadata=sqlite", "--sqlite=" + db, "--mount-point=" + mount}, s, mount
}

func TestPurgeCommand(t *testing.T) {
	const (
		live  = "var/s/storage/images/a/live.jpg"
		gone  = "var/s/storage/images/b/gone.jpg"
		media = "var/s/storage/media/c/clip.mp4"
		cache = "var/s/cache/public/x.css"
		old   = "var/s/storage/images/d/old.jpg"
	)
	settings, store, mount := maintCluster(t, map[string]int64{
		live: 1700000000, gone: -1700000000, media: -1700000000, cache: -1700000000, old: -1000000000,
	})
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(mount, name)); return err == nil }

	// Dry run: lists, counts, changes nothing.
	code, out, errOut := runCmd(t, nil, append([]string{"purge", "--dry-run"}, settings...)...)
	if code != 0 {
		t.Fatalf("dry run: exit %d, %s%s", code, out, errOut)
	}
	for _, n := range []string{gone, media, cache, old} {
		if !strings.Contains(out, n) {
			t.Errorf("dry run does not list %s:\n%s", n, out)
		}
	}
	if strings.Contains(out, live) || !strings.Contains(out, "ezdfsd purge: dry run: would remove 4 rows, 115 bytes") {
		t.Errorf("dry run output:\n%s", out)
	}
	if !exists(gone) {
		t.Fatal("dry run removed a file")
	}

	// --scope media (eZ writes mediafile) and --mtime-before on the original mtime.
	code, out, _ = runCmd(t, nil, append([]string{"purge", "--scope", "media"}, settings...)...)
	if code != 0 || exists(media) || !exists(gone) || !strings.Contains(out, "removed 1 rows") {
		t.Errorf("--scope media: exit %d, media left %v, other removed %v:\n%s", code, exists(media), !exists(gone), out)
	}
	if exists(filepath.Dir(media)) {
		t.Error("the directory left empty by the purge is still there")
	}
	code, out, _ = runCmd(t, nil, append([]string{"purge", "--mtime-before", "2020-01-01"}, settings...)...)
	if code != 0 || exists(old) || !exists(gone) || !strings.Contains(out, "removed 1 rows") {
		t.Errorf("--mtime-before: exit %d, old left %v, newer removed %v:\n%s", code, exists(old), !exists(gone), out)
	}

	// The rest, with a metrics textfile.
	prom := filepath.Join(t.TempDir(), "purge.prom")
	code, out, errOut = runCmd(t, nil, append([]string{"purge", "--metrics-textfile", prom}, settings...)...)
	if code != 0 || exists(gone) || exists(cache) || !exists(live) {
		t.Errorf("purge: exit %d; gone %v cache %v live %v\n%s%s", code, exists(gone), exists(cache), exists(live), out, errOut)
	}
	if _, err := store.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: gone}); err == nil {
		t.Error("purged row still there")
	}
	if _, err := store.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: live}); err != nil {
		t.Errorf("live row: %v", err)
	}
	text, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ezdfsd_purge_rows 2\n", "ezdfsd_purge_failed 0\n", "ezdfsd_purge_exit_code 0\n", "ezdfsd_purge_last_success_timestamp_seconds "} {
		if !strings.Contains(string(text), want) {
			t.Errorf("textfile lacks %q:\n%s", want, text)
		}
	}
}

// TestPurgeFailureSkipped: a file that cannot be removed is reported once and skipped (its row
// stays), never retried forever as clusterpurge.php does; exit 1.
func TestPurgeFailureSkipped(t *testing.T) {
	const stuck, ok = "var/s/storage/ro/stuck.jpg", "var/s/storage/rw/ok.jpg"
	settings, store, mount := maintCluster(t, map[string]int64{stuck: -5, ok: -5})
	// A non-empty directory where the file should be: no one, not even root, can unlink it.
	if err := os.Remove(filepath.Join(mount, stuck)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mount, stuck, "inside"), []byte("x"), 0)
	code, out, errOut := runCmd(t, nil, append([]string{"purge"}, settings...)...)
	if code != 1 || strings.Count(errOut, "skipped") != 1 || !strings.Contains(errOut, stuck) || !strings.Contains(out, "removed 1 rows") || !strings.Contains(out, "1 failed") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, err := store.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: stuck}); err != nil {
		t.Errorf("the row of the file that could not be removed is gone: %v", err)
	}
}
