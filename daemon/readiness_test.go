package daemon_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/ops"
)

// newApp builds the daemon for args (no listeners) and closes it when the test ends.
func newApp(t *testing.T, args ...string) *daemon.App {
	t.Helper()
	cfg, err := config.Load(args, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	a, err := daemon.New(context.Background(), cfg, nil, "test")
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

// probe runs one readiness round and returns /readyz's code and body.
func probe(t *testing.T, a *daemon.App) (int, ops.Status) {
	t.Helper()
	a.Readiness().Probe(context.Background())
	rec := httptest.NewRecorder()
	ops.NewMux(nil, a.Readiness(), nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var st ops.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, st
}

// wantNotReady asserts that /readyz is 503 with check failing for a reason starting with reason.
func wantNotReady(t *testing.T, a *daemon.App, check, reason string) {
	t.Helper()
	code, st := probe(t, a)
	if code != http.StatusServiceUnavailable || st.State != ops.StateNotReady ||
		st.Checks[check].OK || !strings.HasPrefix(st.Checks[check].Error, reason) {
		t.Errorf("/readyz = %d %+v, want 503 with %s failing: %q...", code, st, check, reason)
	}
}

func wantReady(t *testing.T, a *daemon.App) {
	t.Helper()
	if code, st := probe(t, a); code != http.StatusOK || st.State != ops.StateReady {
		t.Errorf("/readyz = %d %+v, want 200 ready", code, st)
	}
}

// TestReadinessMySQLSchema: pointed at a MariaDB database without the cluster tables, the daemon
// is not ready and says which table is missing where; with eZ's tables it is ready; a table
// lacking a column serving reads makes it not ready again, naming the column.
func TestReadinessMySQLSchema(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	a := newApp(t, "--metadata=mysql", "--mysql-dsn="+dsn, "--mount-point="+t.TempDir())
	c, _ := mysql.ParseDSN(dsn)
	wantNotReady(t, a, "metadata_mysql", "table ezdfsfile does not exist in database "+c.DBName+"; table ezdfsfile_cache does not exist in database "+c.DBName)

	testkit.MySQLStore(t, dsn) // creates eZ's schema
	wantReady(t, a)

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("ALTER TABLE ezdfsfile_cache DROP COLUMN datatype"); err != nil {
		t.Fatal(err)
	}
	wantNotReady(t, a, "metadata_mysql", "table ezdfsfile_cache in database "+c.DBName+" lacks the column(s) datatype that ezdfsd reads")
}

// TestReadinessSQLiteSchema: the same with the embedded SQLite store, whose tables the daemon
// creates at start: a table dropped afterwards makes it not ready.
func TestReadinessSQLiteSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dfs.sqlite")
	a := newApp(t, "--metadata=sqlite", "--sqlite="+path, "--mount-point="+t.TempDir())
	wantReady(t, a)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP TABLE ezdfsfile_cache"); err != nil {
		t.Fatal(err)
	}
	wantNotReady(t, a, "metadata_sqlite", "table ezdfsfile_cache does not exist in sqlite database "+path)
}

// TestReadinessMountPoint: the mount point removed, or replaced by a file, makes the daemon not
// ready with that reason.
func TestReadinessMountPoint(t *testing.T) {
	mount := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	a := newApp(t, "--metadata=sqlite", "--sqlite="+filepath.Join(t.TempDir(), "dfs.sqlite"), "--mount-point="+mount)
	wantReady(t, a)
	if err := os.Remove(mount); err != nil {
		t.Fatal(err)
	}
	wantNotReady(t, a, "mountpoint", "mount point "+mount+" does not exist")
	if err := os.WriteFile(mount, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantNotReady(t, a, "mountpoint", "mount point "+mount+" is not a directory")
}

// TestReadinessS3Bucket: with files dispatched to S3 (versitygw), a bucket that does not exist
// makes the daemon not ready, naming it; an existing bucket is ready.
func TestReadinessS3Bucket(t *testing.T) {
	srv := testenv.S3Server(t)
	s3Args := func(bucket string) []string {
		return []string{"--metadata=sqlite", "--sqlite=" + filepath.Join(t.TempDir(), "dfs.sqlite"),
			"--default-backend=" + dfs.S3Backend, "--s3-bucket=" + bucket, "--s3-endpoint=" + srv.Endpoint,
			"--s3-path-style", "--s3-access-key-id=" + srv.AccessKey, "--s3-secret-access-key=" + srv.SecretKey}
	}
	missing := "ezdfsd-missing-" + testenv.RandomSuffix()
	wantNotReady(t, newApp(t, s3Args(missing)...), "s3", "s3 bucket "+missing+" does not exist at "+srv.Endpoint)
	bucket := testkit.NewBucket(t, srv, testkit.S3Admin(srv), "ezdfsd-ready-")
	wantReady(t, newApp(t, s3Args(bucket)...))
}
