package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/metadatatest"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

var bothTables = []string{metadatatest.StorageTable, metadatatest.CacheTable}

func openSQLite(t *testing.T, cfg sqlstore.Config, reg prometheus.Registerer) *sqlstore.Store {
	t.Helper()
	if cfg.Tables == nil {
		cfg.Tables = bothTables
	}
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "dfs.sqlite"), cfg, reg)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openMySQL opens a Store on a fresh database of the test MariaDB and creates the schema.
func openMySQL(t *testing.T, cfg sqlstore.Config, reg prometheus.Registerer) *sqlstore.Store {
	t.Helper()
	dsn := testenv.MySQLDatabase(t)
	if cfg.Tables == nil {
		cfg.Tables = bothTables
	}
	s, err := sqlstore.OpenMySQL(context.Background(), dsn, cfg, reg)
	if err != nil {
		t.Fatalf("OpenMySQL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateSchema(context.Background()); err != nil {
		t.Fatalf("CreateSchema: %v", err)
	}
	return s
}

func TestConformanceSQLite(t *testing.T) {
	metadatatest.TestStore(t, func(t *testing.T) (metadata.Store, metadata.Writer) {
		s := openSQLite(t, sqlstore.Config{}, prometheus.NewRegistry())
		return s, s
	})
}

func TestConformanceMySQL(t *testing.T) {
	metadatatest.TestStore(t, func(t *testing.T) (metadata.Store, metadata.Writer) {
		s := openMySQL(t, sqlstore.Config{}, prometheus.NewRegistry())
		return s, s
	})
}

// stores runs f against a SQLite store and, when the test servers are there, a MariaDB store
// and a PostgreSQL store.
func stores(t *testing.T, cfg sqlstore.Config, f func(t *testing.T, s *sqlstore.Store, reg *prometheus.Registry)) {
	t.Run("sqlite", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		f(t, openSQLite(t, cfg, reg), reg)
	})
	t.Run("mysql", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		f(t, openMySQL(t, cfg, reg), reg)
	})
	t.Run("postgres", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		f(t, openPostgres(t, cfg, reg), reg)
	})
}

func TestUnknownTable(t *testing.T) {
	stores(t, sqlstore.Config{Tables: []string{"ezdfsfile"}}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		ctx := context.Background()
		for _, table := range []string{"ezdfsfile_cache", "", "ezdfsfile; DROP TABLE ezdfsfile", "EZDFSFILE"} {
			_, err := s.Lookup(ctx, metadata.Key{Table: table, Name: "var/x"})
			if !errors.Is(err, sqlstore.ErrUnknownTable) || errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrUnavailable) {
				t.Errorf("Lookup in %q: %v, want ErrUnknownTable only", table, err)
			}
			if err := s.Put(ctx, table, metadata.File{Name: "var/x"}); !errors.Is(err, sqlstore.ErrUnknownTable) {
				t.Errorf("Put in %q: %v, want ErrUnknownTable", table, err)
			}
		}
	})
}

func TestPutRules(t *testing.T) {
	stores(t, sqlstore.Config{}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		ctx := context.Background()
		t.Run("negative mtime sets expired", func(t *testing.T) {
			f := metadata.File{Name: "var/site/storage/images/neg.jpg", Datatype: "image/jpeg", Scope: "image", Size: 1, MTime: -5}
			if err := s.Put(ctx, "ezdfsfile", f); err != nil {
				t.Fatal(err)
			}
			got, err := s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: f.Name})
			if err != nil || !got.Expired || got.MTime != -5 {
				t.Errorf("Lookup = %+v, %v; want Expired and mtime -5", got, err)
			}
		})
		for _, c := range []struct {
			desc string
			f    metadata.File
		}{
			{"negative size", metadata.File{Name: "var/a", Size: -1}},
			{"mtime above int(11)", metadata.File{Name: "var/a", MTime: 1 << 31}},
			{"mtime below int(11)", metadata.File{Name: "var/a", MTime: -1<<31 - 1}},
		} {
			t.Run(c.desc, func(t *testing.T) {
				if err := s.Put(ctx, "ezdfsfile", c.f); err == nil {
					t.Errorf("Put(%+v) succeeded", c.f)
				}
			})
		}
	})
}

func TestMetrics(t *testing.T) {
	stores(t, sqlstore.Config{}, func(t *testing.T, s *sqlstore.Store, reg *prometheus.Registry) {
		ctx := context.Background()
		f := metadata.File{Name: "var/site/storage/images/m.jpg", Datatype: "image/jpeg", Size: 1, MTime: 1}
		if err := s.Put(ctx, "ezdfsfile", f); err != nil {
			t.Fatal(err)
		}
		s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: f.Name})
		s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: f.Name})
		s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: "var/absent"})
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		s.Lookup(cancelled, metadata.Key{Table: "ezdfsfile", Name: f.Name})

		want := `
# HELP ezdfsd_db_queries_total Metadata lookups answered by the SQL store, by result (found, not_found, error).
# TYPE ezdfsd_db_queries_total counter
ezdfsd_db_queries_total{result="error"} 0
ezdfsd_db_queries_total{result="found"} 2
ezdfsd_db_queries_total{result="not_found"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ezdfsd_db_queries_total"); err != nil {
			t.Error(err)
		}
		if n := testutil.CollectAndCount(reg, "ezdfsd_db_query_duration_seconds"); n != 1 {
			t.Errorf("duration histogram series = %d, want 1", n)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var pool bool
		for _, mf := range mfs {
			if mf.GetName() == "go_sql_open_connections" {
				pool = mf.GetMetric()[0].GetLabel()[0].GetValue() == "metadata"
			}
		}
		if !pool {
			t.Error(`no go_sql_open_connections{db_name="metadata"}`)
		}
	})
}

func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := openSQLite(t, sqlstore.Config{MetricsName: "a"}, reg)
	b := openSQLite(t, sqlstore.Config{MetricsName: "b"}, reg)
	for _, s := range []*sqlstore.Store{a, b} {
		s.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: "var/absent"})
	}
	if got := testutil.ToFloat64(mustCounter(t, reg)); got != 2 {
		t.Errorf("shared not_found counter = %v, want 2", got)
	}
	// Same MetricsName on the same registry is refused with a clear error.
	_, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "c.sqlite"), sqlstore.Config{Tables: bothTables, MetricsName: "a"}, reg)
	if err == nil || !strings.Contains(err.Error(), "MetricsName") {
		t.Errorf("second store with db_name a: %v", err)
	}
	// Closing a store frees its pool collector name.
	a.Close()
	c, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "d.sqlite"), sqlstore.Config{Tables: bothTables, MetricsName: "a"}, reg)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	c.Close()
}

func mustCounter(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "ezdfsd_db_queries_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "not_found" {
					c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
					c.Add(m.GetCounter().GetValue())
					return c
				}
			}
		}
	}
	t.Fatal("no ezdfsd_db_queries_total")
	return nil
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		desc    string
		cfg     sqlstore.Config
		wantErr string
	}{
		{"ok", sqlstore.Config{Tables: []string{"ezdfsfile", "ezdfsfile_cache", "ibexa_dfs_file", "T1"}}, ""},
		{"no tables", sqlstore.Config{}, "no tables"},
		{"space", sqlstore.Config{Tables: []string{"ezdfs file"}}, "invalid table name"},
		{"backtick", sqlstore.Config{Tables: []string{"ezdfsfile`"}}, "invalid table name"},
		{"dot", sqlstore.Config{Tables: []string{"db.ezdfsfile"}}, "invalid table name"},
		{"empty", sqlstore.Config{Tables: []string{""}}, "invalid table name"},
		{"too long", sqlstore.Config{Tables: []string{strings.Repeat("a", 65)}}, "invalid table name"},
		{"twice", sqlstore.Config{Tables: []string{"a", "a"}}, "listed twice"},
		{"negative timeout", sqlstore.Config{Tables: []string{"a"}, QueryTimeout: -1}, "QueryTimeout"},
		{"negative pool", sqlstore.Config{Tables: []string{"a"}, MaxOpenConns: -1}, "MaxOpenConns"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Validate = %v, want error containing %q", err, c.wantErr)
			}
			if _, err := sqlstore.OpenMySQL(context.Background(), "u:p@tcp(127.0.0.1:1)/db", c.cfg, nil); err == nil {
				t.Error("OpenMySQL accepted the config")
			}
		})
	}
}

func TestNameTrunk(t *testing.T) {
	cases := []struct {
		name, scope, want string
	}{
		{"var/site/storage/images/a/b/foo.jpg", "image", "var/site/storage/images/a/b/foo.jpg"},
		{"var/site/cache/content/site/full/2/57-1-eng-GB.cache", "viewcache", "var/site/cache/content/site/full/2/57-"},
		{"var/site/cache/content/site/full/2/57.cache", "viewcache", "var/site/cache/content/site/full/2/5"},
		{"57-1.cache", "viewcache", "./57-"},
		{"var/site/cache/content/a-b/-x.cache", "viewcache", "var/site/cache/content/a-b/-"},
		{"var/site/cache/template-block/subtree/1/2/cache/a/b/c/12345.cache", "template-block",
			"var/site/cache/template-block/subtree/1/2/cache/"},
		{"var/site/cache/template-block/1/2/3/12345.cache", "template-block",
			"var/site/cache/template-block/1/2/3/12345.cache"},
		{"var/site/cache/xtemplate-block/subtree/1/cache/a.cache", "template-block",
			"var/site/cache/xtemplate-block/subtree/1/cache/a.cache"},
		{"var/site/cache/template-block/subtree/1/2/3.cache", "template-block", // no cache/ part: PHP strpos false + 6
			"var/site/cache/template-block/subtre"},
		{"", "viewcache", "./"},
		{"var/site/cache/public/a.css", "", "var/site/cache/public/a.css"},
		{"var/site/cache/public/a-b.css", "ezjscore", "var/site/cache/public/a-b.css"},
	}
	for _, c := range cases {
		t.Run(c.scope+":"+c.name, func(t *testing.T) {
			if got := sqlstore.NameTrunk(c.name, c.scope); got != c.want {
				t.Errorf("NameTrunk(%q, %q) = %q, want %q", c.name, c.scope, got, c.want)
			}
		})
	}
}

func TestNameTrunkStored(t *testing.T) {
	stores(t, sqlstore.Config{}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		name := "var/site/cache/content/site/full/2/57-1-eng-GB.cache"
		if err := s.Put(context.Background(), "ezdfsfile_cache", metadata.File{Name: name, Scope: "viewcache", Datatype: "php", MTime: 1}); err != nil {
			t.Fatal(err)
		}
		var trunk, hash string
		err := s.DB().QueryRow(s.Bind("SELECT name_trunk, name_hash FROM ezdfsfile_cache WHERE name = ?"), name).Scan(&trunk, &hash)
		if err != nil {
			t.Fatal(err)
		}
		if want := "var/site/cache/content/site/full/2/57-"; trunk != want {
			t.Errorf("name_trunk = %q, want %q", trunk, want)
		}
		if hash != metadata.NameHash(name) {
			t.Errorf("name_hash = %q, want %q", hash, metadata.NameHash(name))
		}
	})
}

// doubleEncoded is what a UTF-8 name becomes when PHP sends it through a latin1 connection
// into a utf8 column: each byte read as a latin1 character and encoded again ("é" → "Ã©").
func doubleEncoded(name string) string {
	r := make([]rune, 0, len(name))
	for i := 0; i < len(name); i++ {
		r = append(r, rune(name[i]))
	}
	return string(r)
}

// TestLookupByNameHashAlone: like index_cluster.php, a lookup asks for name_hash only, so a row
// whose name column does not byte-match the requested name is served, under the requested name.
func TestLookupByNameHashAlone(t *testing.T) {
	stores(t, sqlstore.Config{}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		for _, tc := range []struct{ what, asked, stored string }{
			{"double-encoded UTF-8", "var/site/storage/images/zürich/café-1-fre-FR/café.jpg", ""},
			{"other name under the same hash", "var/site/storage/images/asked.jpg", "var/site/storage/images/other.jpg"},
		} {
			t.Run(tc.what, func(t *testing.T) {
				stored := tc.stored
				if stored == "" {
					stored = doubleEncoded(tc.asked)
				}
				if stored == tc.asked {
					t.Fatal("test rows must differ from the requested name")
				}
				_, err := s.DB().Exec(s.Bind("INSERT INTO ezdfsfile (name, name_trunk, name_hash, datatype, scope, size, mtime, expired) VALUES (?, ?, ?, 'image/png', 'image', 3, 4, 0)"),
					stored, stored, metadata.NameHash(tc.asked))
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: tc.asked})
				want := metadata.File{Name: tc.asked, Datatype: "image/png", Scope: "image", Size: 3, MTime: 4}
				if err != nil || got != want {
					t.Errorf("Lookup(%q) with row name %q = %+v, %v; want %+v", tc.asked, stored, got, err, want)
				}
			})
		}
	})
}

func TestSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"plain.db", "with space.db", "q?mark.db", "pct%41.db", "hash#.db", "ünï.db"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			cfg := sqlstore.Config{Tables: []string{"ezdfsfile"}}
			s, err := sqlstore.OpenSQLite(context.Background(), path, cfg, nil)
			if err != nil {
				t.Fatalf("OpenSQLite(%q): %v", path, err)
			}
			f := metadata.File{Name: "var/a", Datatype: "text/plain", MTime: 1}
			if err := s.Put(context.Background(), "ezdfsfile", f); err != nil {
				t.Fatal(err)
			}
			var mode string
			if err := s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
			var busy int
			if err := s.DB().QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil || busy != 5000 {
				t.Errorf("busy_timeout = %d, %v; want 5000", busy, err)
			}
			s.Close()
			// Reopening the same file sees the row (the file is the one named, not a mangled name).
			s, err = sqlstore.OpenSQLite(context.Background(), path, cfg, nil)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			if got, err := s.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: "var/a"}); err != nil || got != f {
				t.Errorf("after reopen: %+v, %v", got, err)
			}
		})
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	if len(matches) != 6 {
		t.Errorf("files created: %q, want the 6 names asked for", matches)
	}
	for _, bad := range []string{"", ":memory:"} {
		if _, err := sqlstore.OpenSQLite(context.Background(), bad, sqlstore.Config{Tables: []string{"a"}}, nil); err == nil {
			t.Errorf("OpenSQLite(%q) succeeded", bad)
		}
	}
}

func TestSQLiteSchema(t *testing.T) {
	s := openSQLite(t, sqlstore.Config{}, nil)
	for _, c := range []struct {
		table  string
		status bool
	}{{"ezdfsfile", true}, {"ezdfsfile_cache", false}} {
		rows, err := s.DB().Query(`SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, c.table)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var name, typ string
			var notnull, pk int
			if err := rows.Scan(&name, &typ, &notnull, &pk); err != nil {
				t.Fatal(err)
			}
			if notnull != 1 {
				t.Errorf("%s.%s is nullable", c.table, name)
			}
			if (pk == 1) != (name == "name_hash") {
				t.Errorf("%s.%s pk = %d", c.table, name, pk)
			}
			cols = append(cols, name)
		}
		rows.Close()
		want := "name,name_trunk,name_hash,datatype,scope,size,mtime,expired"
		if c.status {
			want += ",status"
		}
		if got := strings.Join(cols, ","); got != want {
			t.Errorf("%s columns = %s, want %s", c.table, got, want)
		}
		var n int
		if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name LIKE ?`, c.table, c.table+"_%").Scan(&n); err != nil || n != 4 {
			t.Errorf("%s secondary indexes = %d, %v; want 4", c.table, n, err)
		}
	}
	// CreateSchema again is a no-op.
	if err := s.CreateSchema(context.Background()); err != nil {
		t.Errorf("second CreateSchema: %v", err)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never answers, like a hung server or a black-holed
// network path past the TCP handshake.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return l.Addr().String()
}

func TestMySQLUnavailable(t *testing.T) {
	testUnavailable(t, "Ping", (*sqlstore.Store).Ping, func(t *testing.T, host string, port int) (*sqlstore.Store, error) {
		dsn := sqlstore.MySQLParams{Host: host, Port: port, User: "ezp", Password: "s3cret-pw", Database: "ezp",
			ConnectTimeout: 300 * time.Millisecond}.DSN()
		return sqlstore.OpenMySQL(context.Background(), dsn, sqlstore.Config{Tables: bothTables, QueryTimeout: 500 * time.Millisecond}, prometheus.NewRegistry())
	})
}

// testUnavailable runs a store opened by open (user ezp, password s3cret-pw) against a refused
// port and a server that never answers: opening needs no server; Lookup, probe (named for the
// messages) and Put fail with ErrUnavailable within about QueryTimeout, without the password in
// the error; and a caller's own deadline on a hung server is reported as context.DeadlineExceeded.
func testUnavailable(t *testing.T, probeName string, probe func(*sqlstore.Store, context.Context) error,
	open func(t *testing.T, host string, port int) (*sqlstore.Store, error)) {
	cases := []struct {
		desc string
		addr string
	}{
		{"connection refused", closedPort(t)},
		{"server never answers", silentServer(t)},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(c.addr)
			p, _ := strconv.Atoi(port)
			s, err := open(t, host, p)
			if err != nil {
				t.Fatalf("opening must not need the server: %v", err)
			}
			defer s.Close()
			done := make(chan error, 1)
			go func() {
				_, err := s.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: "var/a"})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, metadata.ErrUnavailable) || errors.Is(err, metadata.ErrNotFound) {
					t.Errorf("Lookup: %v, want ErrUnavailable", err)
				}
				if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
					t.Errorf("error shows the password: %v", err)
				}
				t.Logf("error: %v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("Lookup still running after 5s (want ~QueryTimeout)")
			}
			if err := probe(s, context.Background()); !errors.Is(err, metadata.ErrUnavailable) {
				t.Errorf("%s: %v, want ErrUnavailable", probeName, err)
			}
			if err := s.Put(context.Background(), "ezdfsfile", metadata.File{Name: "var/a"}); !errors.Is(err, metadata.ErrUnavailable) {
				t.Errorf("Put: %v, want ErrUnavailable", err)
			}
			// The caller's own cancellation is reported as such, even while the server hangs.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: "var/a"}); c.desc == "server never answers" &&
				(!errors.Is(err, context.DeadlineExceeded) || errors.Is(err, metadata.ErrUnavailable)) {
				t.Errorf("Lookup with caller deadline: %v, want context.DeadlineExceeded only", err)
			}
		})
	}
}

func TestOpenMySQLMalformedDSN(t *testing.T) {
	for _, dsn := range []string{
		"ezp:pw@tcp(127.0.0.1:3306",     // no slash
		"ezp:pw@tcp(127.0.0.1:3306/ezp", // unterminated address
		"ezp:pw@tcp(127.0.0.1:3306)/ezp?timeout=banana",
		"ezp:pw@tcp(127.0.0.1:3306)/%zz",
	} {
		t.Run(dsn, func(t *testing.T) {
			if _, err := sqlstore.OpenMySQL(context.Background(), dsn, sqlstore.Config{Tables: bothTables}, nil); err == nil {
				t.Errorf("OpenMySQL(%q) succeeded", dsn)
			} else if !strings.Contains(err.Error(), "DSN") {
				t.Errorf("error %q does not say DSN", err)
			}
		})
	}
}

func TestMySQLParamsDSN(t *testing.T) {
	cases := []struct {
		desc     string
		p        sqlstore.MySQLParams
		net      string
		addr     string
		password string
	}{
		{"defaults", sqlstore.MySQLParams{User: "ezp", Database: "ezp"}, "tcp", "127.0.0.1:3306", ""},
		{"host and port", sqlstore.MySQLParams{Host: "db.example", Port: 3307, User: "ezp", Password: "plain", Database: "ezp"}, "tcp", "db.example:3307", "plain"},
		{"ipv6", sqlstore.MySQLParams{Host: "::1", User: "ezp", Database: "ezp"}, "tcp", "[::1]:3306", ""},
		{"socket", sqlstore.MySQLParams{Socket: "/run/mysqld/mysqld.sock", Host: "ignored", User: "ezp", Database: "ezp"}, "unix", "/run/mysqld/mysqld.sock", ""},
		{"equals semicolon hash", sqlstore.MySQLParams{User: "ezp", Password: "a=b;c#d", Database: "ezp"}, "tcp", "127.0.0.1:3306", "a=b;c#d"},
		{"at and slash", sqlstore.MySQLParams{User: "ezp", Password: "p@ss/w0rd@tcp(evil:1)/x", Database: "ezp"}, "tcp", "127.0.0.1:3306", "p@ss/w0rd@tcp(evil:1)/x"},
		{"quotes", sqlstore.MySQLParams{User: "ezp", Password: `it's "quoted" \ back`, Database: "ezp"}, "tcp", "127.0.0.1:3306", `it's "quoted" \ back`},
		{"query-like", sqlstore.MySQLParams{User: "ezp", Password: "x?charset=latin1&y=1:z", Database: "ezp"}, "tcp", "127.0.0.1:3306", "x?charset=latin1&y=1:z"},
		{"unicode and space", sqlstore.MySQLParams{User: "ezp", Password: "pä ss wörd", Database: "ez p/db"}, "tcp", "127.0.0.1:3306", "pä ss wörd"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			dsn := c.p.DSN()
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatalf("ParseDSN(%q): %v", dsn, err)
			}
			if cfg.User != c.p.User || cfg.Passwd != c.password || cfg.DBName != c.p.Database {
				t.Errorf("round trip of %q: user %q password %q db %q", dsn, cfg.User, cfg.Passwd, cfg.DBName)
			}
			if cfg.Net != c.net || cfg.Addr != c.addr {
				t.Errorf("address = %s(%s), want %s(%s)", cfg.Net, cfg.Addr, c.net, c.addr)
			}
			if !cfg.InterpolateParams || cfg.ParseTime {
				t.Errorf("interpolateParams=%v parseTime=%v", cfg.InterpolateParams, cfg.ParseTime)
			}
			if cfg.Timeout != sqlstore.DefaultConnectTimeout || cfg.ReadTimeout != sqlstore.DefaultIOTimeout || cfg.WriteTimeout != sqlstore.DefaultIOTimeout {
				t.Errorf("timeouts = %v/%v/%v", cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout)
			}
			if !strings.Contains(dsn, "charset=utf8mb4") {
				t.Errorf("DSN %q lacks charset=utf8mb4", dsn)
			}
		})
	}
	t.Run("charset and timeout", func(t *testing.T) {
		dsn := sqlstore.MySQLParams{User: "u", Charset: "utf8", ConnectTimeout: 3 * time.Second}.DSN()
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Timeout != 3*time.Second || !strings.Contains(dsn, "charset=utf8&") && !strings.HasSuffix(dsn, "charset=utf8") {
			t.Errorf("DSN %q", dsn)
		}
	})
}

// TestMySQLPasswordLogin proves the special-character passwords work against the real server,
// not only through ParseDSN.
func TestMySQLPasswordLogin(t *testing.T) {
	bc, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	bc.InterpolateParams = true // CREATE USER takes no server-side placeholders
	admin, err := sql.Open("mysql", bc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	host, port, _ := net.SplitHostPort(bc.Addr)
	p, _ := strconv.Atoi(port)
	for i, pw := range []string{"a=b;c#d", `p@ss/w0rd'"\)(`, "x?charset=latin1&y=1:z", "pä ss"} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			user := "ezdfsd_pw_" + testenv.RandomSuffix()
			if _, err := admin.Exec("CREATE USER ?@'%' IDENTIFIED BY ?", user, pw); err != nil {
				t.Fatalf("create a test user (the TEST_MYSQL_DSN user needs CREATE USER): %v", err)
			}
			defer admin.Exec("DROP USER ?@'%'", user)
			dsn := sqlstore.MySQLParams{Host: host, Port: p, User: user, Password: pw}.DSN()
			s, err := sqlstore.OpenMySQL(context.Background(), dsn, sqlstore.Config{Tables: bothTables}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Ping(context.Background()); err != nil {
				t.Errorf("Ping with password %q: %v", pw, err)
			}
			// And the password really is checked.
			bad, err := sqlstore.OpenMySQL(context.Background(),
				sqlstore.MySQLParams{Host: host, Port: p, User: user, Password: pw + "x"}.DSN(), sqlstore.Config{Tables: bothTables}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			err = bad.Ping(context.Background())
			if !errors.Is(err, metadata.ErrUnavailable) || strings.Contains(err.Error(), pw) {
				t.Errorf("Ping with a wrong password: %v, want ErrUnavailable without the password", err)
			}
		})
	}
}

// TestMySQLOneRoundTrip checks that a lookup is one COM_QUERY: no prepared statement is
// created, whatever the DSN said about interpolateParams.
func TestMySQLOneRoundTrip(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	cfg, _ := mysql.ParseDSN(dsn)
	cfg.InterpolateParams = false // OpenMySQL must turn it back on
	s, err := sqlstore.OpenMySQL(context.Background(), cfg.FormatDSN(), sqlstore.Config{Tables: bothTables, MaxOpenConns: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "ezdfsfile", metadata.File{Name: "var/a", MTime: 1}); err != nil {
		t.Fatal(err)
	}
	status := func() (prepare, query int) {
		t.Helper()
		rows, err := s.DB().Query("SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Questions')")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var v int
			if err := rows.Scan(&name, &v); err != nil {
				t.Fatal(err)
			}
			switch name {
			case "Com_stmt_prepare":
				prepare = v
			case "Questions":
				query = v
			}
		}
		return
	}
	p0, q0 := status()
	const n = 20
	for i := 0; i < n; i++ {
		s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: "var/a"})
		s.Lookup(ctx, metadata.Key{Table: "ezdfsfile_cache", Name: "var/absent"})
	}
	p1, q1 := status()
	if p1 != p0 {
		t.Errorf("Com_stmt_prepare grew by %d over %d lookups, want 0", p1-p0, 2*n)
	}
	// Questions counts statements sent by the client: the lookups plus one SHOW STATUS.
	if got := q1 - q0; got != 2*n+1 {
		t.Errorf("Questions grew by %d over %d lookups, want %d", got, 2*n, 2*n+1)
	}
}

// TestMySQLSchemaMatchesEZ compares what CreateSchema makes on MariaDB with eZ's
// kernel/sql/mysql/cluster_dfs_schema.sql (spec §1.1).
func TestMySQLSchemaMatchesEZ(t *testing.T) {
	s := openMySQL(t, sqlstore.Config{Tables: []string{"ezdfsfile", "ezdfsfile_cache", "ibexa_dfs_file"}}, nil)
	db := s.DB()
	columns := []string{
		"name text NO <nil>",
		"name_trunk text NO <nil>",
		"name_hash varchar(34) NO ''",
		"datatype varchar(255) NO 'application/octet-stream'",
		"scope varchar(25) NO ''",
		"size bigint(20) unsigned NO 0",
		"mtime int(11) NO 0",
		"expired tinyint(1) NO 0",
	}
	indexes := []string{
		"PRIMARY 1 name_hash <nil> unique",
		"ezdfsfile_expired_name 1 expired <nil>",
		"ezdfsfile_expired_name 2 name 250",
		"ezdfsfile_mtime 1 mtime <nil>",
		"ezdfsfile_name 1 name 250",
		"ezdfsfile_name_trunk 1 name_trunk 250",
	}
	for _, c := range []struct {
		table  string
		status bool
	}{{"ezdfsfile", true}, {"ezdfsfile_cache", false}, {"ibexa_dfs_file", true}} {
		t.Run(c.table, func(t *testing.T) {
			want := append([]string(nil), columns...)
			if c.status {
				want = append(want, "status tinyint(1) NO 0")
			}
			got := queryStrings(t, db, `SELECT CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '<nil>'))
				FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, c.table)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("columns:\n got %q\nwant %q", got, want)
			}
			got = queryStrings(t, db, `SELECT CONCAT_WS(' ', INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, IFNULL(SUB_PART, '<nil>'), IF(NON_UNIQUE = 0, 'unique', NULL))
				FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
				ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, c.table)
			if strings.Join(got, "\n") != strings.Join(indexes, "\n") {
				t.Errorf("indexes:\n got %q\nwant %q", got, indexes)
			}
			var name, create string
			if err := db.QueryRow("SHOW CREATE TABLE `"+c.table+"`").Scan(&name, &create); err != nil {
				t.Fatal(err)
			}
			for _, frag := range []string{"PRIMARY KEY (`name_hash`)", "ENGINE=InnoDB", "`size` bigint(20) unsigned NOT NULL DEFAULT 0"} {
				if !strings.Contains(create, frag) {
					t.Errorf("SHOW CREATE TABLE lacks %q:\n%s", frag, create)
				}
			}
		})
	}
	if err := s.CreateSchema(context.Background()); err != nil {
		t.Errorf("second CreateSchema: %v", err)
	}
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaText(t *testing.T) {
	for _, c := range []struct {
		text       string
		has, hasNo []string
	}{
		{sqlstore.MySQLSchema("ezdfsfile", false), []string{"CREATE TABLE IF NOT EXISTS `ezdfsfile`", "`status` tinyint(1)", "ENGINE=InnoDB", "KEY ezdfsfile_expired_name (expired,`name`(250))"}, nil},
		{sqlstore.MySQLSchema("ezdfsfile_cache", true), []string{"`ezdfsfile_cache`", "PRIMARY KEY (name_hash)"}, []string{"status"}},
		{sqlstore.SQLiteSchema("ezdfsfile_cache", true), []string{`"ezdfsfile_cache_expired_name"`, "WITHOUT ROWID"}, []string{"status"}},
	} {
		for _, h := range c.has {
			if !strings.Contains(c.text, h) {
				t.Errorf("schema lacks %q:\n%s", h, c.text)
			}
		}
		for _, h := range c.hasNo {
			if strings.Contains(c.text, h) {
				t.Errorf("schema has %q:\n%s", h, c.text)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MySQLSchema with a bad table name did not panic")
		}
	}()
	sqlstore.MySQLSchema("x; DROP TABLE y", false)
}

// TestOpenMySQLConnectionSettings checks what OpenMySQL enforces on a user's DSN, on the
// server side of a real connection.
func TestOpenMySQLConnectionSettings(t *testing.T) {
	base, err := mysql.ParseDSN(testenv.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc, params, wantCharset string
	}{
		{"no params: utf8mb4", "", "utf8mb4"},
		{"charset kept", "?charset=latin1", "latin1"},
		{"eZ's utf8", "?charset=utf8&interpolateParams=false&timeout=0", "utf8mb3"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			dsn := base.User + ":" + base.Passwd + "@" + base.Net + "(" + base.Addr + ")/" + base.DBName + c.params
			s, err := sqlstore.OpenMySQL(context.Background(), dsn, sqlstore.Config{Tables: bothTables, MaxOpenConns: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var charset string
			if err := s.DB().QueryRow("SELECT @@character_set_connection").Scan(&charset); err != nil {
				t.Fatal(err)
			}
			if charset != c.wantCharset {
				t.Errorf("character_set_connection = %q, want %q", charset, c.wantCharset)
			}
			if err := s.CreateSchema(context.Background()); err != nil {
				t.Fatal(err)
			}
			// One Lookup, then no prepared statement on the session: interpolation is on.
			s.Lookup(context.Background(), metadata.Key{Table: "ezdfsfile", Name: "var/a"})
			var name string
			var prepared int
			if err := s.DB().QueryRow("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'").Scan(&name, &prepared); err != nil {
				t.Fatal(err)
			}
			if prepared != 0 {
				t.Errorf("Com_stmt_prepare = %d, want 0", prepared)
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	run := func(b *testing.B, s *sqlstore.Store) {
		ctx := context.Background()
		f := metadata.File{Name: "var/site/storage/images/bench.jpg", Datatype: "image/jpeg", Scope: "image", Size: 70 << 10, MTime: 1700000000}
		if err := s.Put(ctx, "ezdfsfile", f); err != nil {
			b.Fatal(err)
		}
		key := metadata.Key{Table: "ezdfsfile", Name: f.Name}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Lookup(ctx, key); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("sqlite", func(b *testing.B) {
		s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "b.sqlite"), sqlstore.Config{Tables: bothTables}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("mysql", func(b *testing.B) {
		s, err := sqlstore.OpenMySQL(context.Background(), testenv.MySQLDatabase(b), sqlstore.Config{Tables: bothTables}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateSchema(context.Background()); err != nil {
			b.Fatal(err)
		}
		run(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		s, err := sqlstore.OpenPostgres(context.Background(), testenv.PostgresDatabase(b), sqlstore.Config{Tables: bothTables}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateSchema(context.Background()); err != nil {
			b.Fatal(err)
		}
		run(b, s)
	})
}
