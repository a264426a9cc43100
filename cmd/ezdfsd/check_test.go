package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// checkSite fills a fresh MariaDB database (eZ's schema) and a mount point with rows and files:
// three images and a cache file, all present and of the row's size, plus deleted and expired
// rows without files (which check must not sample). It returns the DSN and the mount point.
func checkSite(t *testing.T) (dsn, mount string) {
	t.Helper()
	dsn = testenv.MySQLDatabase(t)
	store := testkit.MySQLStore(t, dsn)
	mount = t.TempDir()
	ctx := context.Background()
	put := func(table, name string, data []byte, mtime int64, expired bool) {
		if data != nil {
			writeFile(t, filepath.Join(mount, name), data, 0)
		}
		if err := store.Put(ctx, table, metadata.File{Name: name, Datatype: "image/png", Size: int64(len(data)), MTime: mtime, Expired: expired}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []string{"a", "b", "c", "d"} {
		put("ezdfsfile", "var/site/storage/images/"+n+".png", []byte(strings.Repeat(n, 100+i)), int64(1700000000+i), false)
	}
	put("ezdfsfile_cache", "var/site/cache/template/x.php", []byte("<?php ?>"), 1700000000, false)
	put("ezdfsfile", "var/site/storage/images/deleted.png", nil, -1700000000, false)
	put("ezdfsfile_cache", "var/site/cache/expired.php", nil, 1700000009, true)
	return dsn, mount
}

// checkLine finds the report line of check and returns its result and the rest.
func checkLine(t *testing.T, out, check string) (result, rest string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(check) + `\s+(\S+)\s+(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("report has no line for %q:\n%s", check, out)
	}
	return m[1], m[2]
}

// TestCheckGoodSetup: on a working MariaDB + mount point site, `ezdfsd check` passes every
// check, reads the three newest live files of ezdfsfile and the cache file, samples no deleted
// or expired row, and exits 0.
func TestCheckGoodSetup(t *testing.T) {
	dsn, mount := checkSite(t)
	code, out, errOut := runCmd(t, nil, "check", "--metadata=mysql", "--mysql-dsn="+dsn, "--mount-point="+mount)
	t.Logf("stdout:\n%s", out)
	if code != 0 || !strings.Contains(out, "ezdfsd check: all checks passed") {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "CHECK ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "RESULT") {
		t.Errorf("no table header:\n%s", out)
	}
	for _, c := range []string{"metadata_mysql", "mountpoint", "file var/site/storage/images/d.png", "file var/site/storage/images/c.png",
		"file var/site/storage/images/b.png", "file var/site/cache/template/x.php"} {
		if res, _ := checkLine(t, out, c); res != "ok" {
			t.Errorf("%s: %s, want ok", c, res)
		}
	}
	if _, rest := checkLine(t, out, "file var/site/storage/images/d.png"); !strings.HasPrefix(rest, "ezdfsfile row, 103 bytes read from the mount point") {
		t.Errorf("d.png: %q", rest)
	}
	for _, n := range []string{"a.png", "deleted.png", "expired.php"} {
		if strings.Contains(out, n) {
			t.Errorf("sampled %s (a fourth row, or a dead one):\n%s", n, out)
		}
	}
}

// TestCheckBrokenSetup: the cache table missing, a row whose file is missing, and files
// dispatched to an S3 bucket that does not exist: exit 1, and the table names each problem with
// a fix.
func TestCheckBrokenSetup(t *testing.T) {
	dsn, mount := checkSite(t)
	srv := testenv.S3Server(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP TABLE ezdfsfile_cache"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mount, "var/site/storage/images/c.png"), nil, 0) // now empty: the row says 102 bytes
	if err := os.Remove(filepath.Join(mount, "var/site/storage/images/d.png")); err != nil {
		t.Fatal(err)
	}
	bucket := "ezdfsd-missing-" + testenv.RandomSuffix()
	c, _ := mysql.ParseDSN(dsn)
	code, out, errOut := runCmd(t, nil, "check", "--metadata=mysql", "--mysql-dsn="+dsn, "--mount-point="+mount,
		"--path-backend=/images/b.png="+dfs.S3Backend, "--s3-bucket="+bucket, "--s3-endpoint="+srv.Endpoint, "--s3-path-style",
		"--s3-access-key-id="+srv.AccessKey, "--s3-secret-access-key="+srv.SecretKey)
	t.Logf("stdout:\n%s", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, w := range []struct{ check, prefix string }{
		{"metadata_mysql", "FAIL table ezdfsfile_cache does not exist in database " + c.DBName + " create the table: ezdfsd import --create-schema"},
		{"mountpoint", "ok"},
		{"s3", "FAIL s3 bucket " + bucket + " does not exist at " + srv.Endpoint + " create the bucket"},
		{"file var/site/storage/images/d.png", "FAIL ezdfsfile row (103 bytes) has no file in the mount point restore the file or re-import it"},
		{"file var/site/storage/images/c.png", "FAIL ezdfsfile row says 102 bytes, the file in the mount point has 0"},
		{"file var/site/storage/images/a.png", "ok"},
		{"file var/site/storage/images/b.png", "skip the S3 bucket is not usable (see its check)"},
		{"sample ezdfsfile_cache", "skip the metadata check failed"},
	} {
		res, rest := checkLine(t, out, w.check)
		if got := strings.Join(strings.Fields(res+" "+rest), " "); !strings.HasPrefix(got, w.prefix) {
			t.Errorf("%s: %q, want %q...", w.check, got, w.prefix)
		}
	}
	if !strings.Contains(out, "ezdfsd check: 4 problem(s)") {
		t.Errorf("no summary of 4 problems:\n%s", out)
	}
}

// TestCheckConfigError: a configuration error exits 2, as for the other subcommands.
func TestCheckConfigError(t *testing.T) {
	if code, _, errOut := runCmd(t, nil, "check", "--metadata=oracle"); code != 2 || !strings.Contains(errOut, "ezdfsd check:") {
		t.Errorf("exit %d (%s), want 2", code, errOut)
	}
}

// TestCheckMissingMountPoint: with SQLite, a mount point that does not exist is a failing line
// of the report (exit 1), not a start-up error (exit 2), and the rows on it are skipped, not
// reported as missing files one by one.
func TestCheckMissingMountPoint(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "ez")
	writeFile(t, filepath.Join(root, "var/site/storage/images/a.png"), []byte("png"), 0)
	db := filepath.Join(dir, "dfs.sqlite")
	if code, out, errOut := runCmd(t, nil, "import", "--ez-root="+root, "--metadata=sqlite", "--sqlite="+db, "--mount-point="+root); code != 0 {
		t.Fatalf("import: %d\n%s%s", code, out, errOut)
	}
	missing := filepath.Join(dir, "nfs")
	code, out, errOut := runCmd(t, nil, "check", "--metadata=sqlite", "--sqlite="+db, "--mount-point="+missing)
	t.Logf("stdout:\n%s", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, w := range []struct{ check, prefix string }{
		{"metadata_sqlite", "ok"},
		{"mountpoint", "FAIL mount point " + missing + " does not exist"},
		{"file var/site/storage/images/a.png", "skip the mount point is not usable (see its check)"},
	} {
		res, rest := checkLine(t, out, w.check)
		if got := strings.Join(strings.Fields(res+" "+rest), " "); !strings.HasPrefix(got, w.prefix) {
			t.Errorf("%s: %q, want %q...", w.check, got, w.prefix)
		}
	}
}
