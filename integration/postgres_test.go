package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/ops"
)

// postgresFileINI makes an eZ root a site of ezpostgresqlcluster: its DFS backend keeps the
// metadata in PostgreSQL (the later group's DBBackend overrides newEZRoot's MySQLi one).
const postgresFileINI = "[eZDFSClusteringSettings]\nDBBackend=" + config.PostgresDFSBackend + "\n"

// postgresStore opens the PostgreSQL database of u for eZ's default tables, creates the
// schema, and closes the store when the test ends.
func postgresStore(t *testing.T, u string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(context.Background(), u, sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateSchema(context.Background()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	return s
}

// splitPostgresURL returns the parts of a test database URL, as an eZ root's settings hold them.
func splitPostgresURL(t *testing.T, raw string) dbParts {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse PostgreSQL URL: %v", err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("PostgreSQL URL port %q: %v", u.Port(), err)
	}
	pw, _ := u.User.Password()
	return dbParts{Host: u.Hostname(), Port: port, User: u.User.Username(), Pass: pw, Name: u.Path[1:]}
}

// TestEzRootServesLegacyAnswersPostgres is the legacy conformance test with the metadata in
// PostgreSQL: the eZ root names ezpostgresqlcluster's backend and the database in its DB*
// settings, the daemon builds its PostgreSQL URL from them, and every answer of spec §7 is
// the same as with MariaDB.
func TestEzRootServesLegacyAnswersPostgres(t *testing.T) {
	u := testenv.PostgresDatabase(t)
	legacyAnswers(t, splitPostgresURL(t, u), postgresStore(t, u), postgresFileINI, "postgres")
}

// TestImportPostgres runs `ezdfsd import` (daemon.Import) into PostgreSQL from an eZ root
// configured for it: --create-schema makes eZ's tables, rows land in the table dfs routes each
// name to, a second run finds them unchanged, and a changed file is upserted in place (ON
// CONFLICT (name_hash)).
func TestImportPostgres(t *testing.T) {
	ctx := context.Background()
	u := testenv.PostgresDatabase(t)
	root := newEZRoot(t, splitPostgresURL(t, u), "", postgresFileINI)
	imgName := site + "storage/images/media/images/photo/123-1-eng-GB/photo.jpg"
	cacheName := site + "cache/public/stylesheets/site.css"
	files := map[string][]byte{imgName: content(3000), cacheName: []byte("body{margin:0}")}
	fileTime := time.Unix(mtime, 0)
	for name, data := range files {
		p := filepath.Join(root.Dir, filepath.FromSlash(name))
		writeFile(t, p, data)
		if err := os.Chtimes(p, fileTime, fileTime); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load([]string{"--ez-root", root.Dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Metadata != "postgres" {
		t.Fatalf("metadata = %s from %s, want postgres from file.ini's DBBackend", cfg.Metadata, cfg.Source("metadata"))
	}
	rep, err := daemon.Import(ctx, cfg, nil, root.Dir, "var", true)
	if err != nil || rep.Imported != 2 || rep.Failed != 0 {
		t.Fatalf("import: %s (%v), want 2 imported", rep, err)
	}
	if rep, err := daemon.Import(ctx, cfg, nil, root.Dir, "var", false); err != nil || rep.Unchanged != 2 || rep.Imported != 0 {
		t.Fatalf("second import: %s (%v), want 2 unchanged", rep, err)
	}
	// A new version of the image: the same row (name_hash) takes the new size and mtime.
	files[imgName] = content(5000)
	p := filepath.Join(root.Dir, filepath.FromSlash(imgName))
	writeFile(t, p, files[imgName])
	if err := os.Chtimes(p, fileTime.Add(time.Hour), fileTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rep, err := daemon.Import(ctx, cfg, nil, root.Dir, "var", false); err != nil || rep.Imported != 1 || rep.Unchanged != 1 {
		t.Fatalf("import after a change: %s (%v), want 1 imported, 1 unchanged", rep, err)
	}

	store := postgresStore(t, u)
	tables := dfs.DefaultTables()
	for name, want := range map[string]metadata.File{
		imgName:   {Name: imgName, Datatype: "image/jpeg", Size: 5000, MTime: mtime + 3600},
		cacheName: {Name: cacheName, Datatype: "text/css", Size: int64(len(files[cacheName])), MTime: mtime},
	} {
		got, err := store.Lookup(ctx, metadata.Key{Table: tables.For(name), Name: name})
		if err != nil {
			t.Fatalf("lookup %s in %s: %v", name, tables.For(name), err)
		}
		want.Scope = got.Scope // the importer's scope rules are the importer's tests' business
		if got != want {
			t.Errorf("row %s = %+v, want %+v", name, got, want)
		}
	}
	if names, err := store.LiveNames(ctx, "ezdfsfile", 10); err != nil || len(names) != 1 || names[0] != imgName {
		t.Errorf("ezdfsfile live rows = %q (%v), want only %s: the re-import must update the row, not add one", names, err, imgName)
	}
}

// TestReadinessPostgres: the daemon on a PostgreSQL database without the cluster tables is not
// ready and names both tables and the database; with eZ's tables it is ready and serves; a
// serving column dropped makes it not ready again, naming the column.
func TestReadinessPostgres(t *testing.T) {
	u := testenv.PostgresDatabase(t)
	dbName := splitPostgresURL(t, u).Name
	d := testkit.StartDaemon(t, []string{"--metadata=postgres", "--postgres-url=" + u, "--mount-point=" + t.TempDir(),
		"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"}, nil)
	readyz := func() (int, ops.Status) {
		t.Helper()
		d.App.Readiness().Probe(context.Background())
		resp, err := http.Get(d.MetricsURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st ops.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatalf("/readyz body: %v", err)
		}
		return resp.StatusCode, st
	}
	// waitReadyz probes until /readyz answers as ok says, or 15 s pass. A probe of our own can
	// meet the background one still running ("previous probe still running") on a busy machine,
	// so one answer is not enough.
	waitReadyz := func(ok func(int, ops.Status) bool) (int, ops.Status) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, st := readyz()
			if ok(code, st) || time.Now().After(deadline) {
				return code, st
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	notReady := func(reason string) {
		t.Helper()
		code, st := waitReadyz(func(code int, st ops.Status) bool {
			c := st.Checks["metadata_postgres"]
			return code == http.StatusServiceUnavailable && !c.OK && c.Error == reason
		})
		if c := st.Checks["metadata_postgres"]; code != http.StatusServiceUnavailable || c.OK || c.Error != reason {
			t.Errorf("/readyz = %d %+v\nwant 503 with metadata_postgres failing: %s", code, st, reason)
		}
	}
	notReady("table ezdfsfile does not exist in database " + dbName + "; table ezdfsfile_cache does not exist in database " + dbName)

	store := postgresStore(t, u)
	if code, st := waitReadyz(func(code int, st ops.Status) bool { return code == http.StatusOK }); code != http.StatusOK || st.State != ops.StateReady {
		t.Errorf("/readyz with eZ's tables = %d %+v, want 200 ready", code, st)
	}
	name := site + "storage/images/ready.jpg"
	put(t, store, d.Cfg.MountPoint, metadata.File{Name: name, Datatype: "image/jpeg", Scope: "image", Size: 5, MTime: mtime}, []byte("ready"))
	if r := do(t, newClient(t, 1), d.URL, http.MethodGet, "/"+name); r.Code != http.StatusOK || string(r.Body) != "ready" {
		t.Errorf("GET %s = %d %q", name, r.Code, r.Body)
	}

	admin, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("ALTER TABLE ezdfsfile_cache DROP COLUMN datatype"); err != nil {
		t.Fatal(err)
	}
	notReady("table ezdfsfile_cache in database " + dbName + " lacks the column(s) datatype that ezdfsd reads")
}
