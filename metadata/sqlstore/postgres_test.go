package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/metadatatest"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// openPostgres opens a Store on a fresh database of the test PostgreSQL server and creates
// the schema.
func openPostgres(t *testing.T, cfg sqlstore.Config, reg prometheus.Registerer) *sqlstore.Store {
	t.Helper()
	u := testenv.PostgresDatabase(t)
	if cfg.Tables == nil {
		cfg.Tables = bothTables
	}
	s, err := sqlstore.OpenPostgres(context.Background(), u, cfg, reg)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateSchema(context.Background()); err != nil {
		t.Fatalf("CreateSchema: %v", err)
	}
	return s
}

func TestConformancePostgres(t *testing.T) {
	metadatatest.TestStore(t, func(t *testing.T) (metadata.Store, metadata.Writer) {
		s := openPostgres(t, sqlstore.Config{}, prometheus.NewRegistry())
		return s, s
	})
}

// TestPostgresSchemaMatchesEZ reads the catalog of tables CreateSchema made and compares it
// with ezpostgresqlcluster's sql/postgresql/cluster_dfs_schema.sql (size widened to bigint).
func TestPostgresSchemaMatchesEZ(t *testing.T) {
	s := openPostgres(t, sqlstore.Config{Tables: []string{"ezdfsfile", "ezdfsfile_cache", "ibexa_dfs_file"}}, nil)
	db := s.DB()
	columns := []string{
		"datatype character varying(255) NO 'application/octet-stream'::character varying",
		"name text NO <nil>",
		"name_trunk text NO <nil>",
		"name_hash character(32) NO ''::bpchar",
		"scope character varying(20) NO ''::character varying",
		"size bigint NO 0",
		"mtime integer NO 0",
		"expired integer NO 0",
	}
	for _, table := range []string{"ezdfsfile", "ezdfsfile_cache", "ibexa_dfs_file"} {
		t.Run(table, func(t *testing.T) {
			got := queryStrings(t, db, `SELECT concat_ws(' ', column_name,
					CASE WHEN character_maximum_length IS NULL THEN data_type ELSE data_type || '(' || character_maximum_length || ')' END,
					is_nullable, coalesce(column_default, '<nil>'))
				FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
			if strings.Join(got, "\n") != strings.Join(columns, "\n") {
				t.Errorf("columns:\n got %q\nwant %q", got, columns)
			}
			got = queryStrings(t, db, `SELECT indexname || ': ' || regexp_replace(indexdef, '^.* USING ', '')
				FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 ORDER BY indexname`, table)
			want := []string{table + "_mtime: btree (mtime)", table + "_name: btree (name)", table + "_pkey: btree (name_hash)"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("indexes:\n got %q\nwant %q", got, want)
			}
		})
	}
	if err := s.CreateSchema(context.Background()); err != nil {
		t.Errorf("second CreateSchema: %v", err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestPostgresReadsEZTable proves a table created by eZ's own DDL (size integer, before
// CreateSchema ever ran) serves lookups and takes upserts.
func TestPostgresReadsEZTable(t *testing.T) {
	u := testenv.PostgresDatabase(t)
	s, err := sqlstore.OpenPostgres(context.Background(), u, sqlstore.Config{Tables: []string{"ezdfsfile"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exec(t, s, `CREATE TABLE ezdfsfile (
		datatype varchar(255) DEFAULT 'application/octet-stream' NOT NULL, name text NOT NULL, name_trunk text NOT NULL,
		name_hash character(32) DEFAULT '' NOT NULL PRIMARY KEY, scope varchar(20) DEFAULT '' NOT NULL,
		size integer DEFAULT 0 NOT NULL, mtime integer DEFAULT 0 NOT NULL, expired integer DEFAULT 0 NOT NULL)`)
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check on eZ's table: %v", err)
	}
	f := metadata.File{Name: "var/site/storage/images/a.jpg", Datatype: "image/jpeg", Scope: "image", Size: 1234, MTime: 1700000000}
	for range 2 { // insert, then the ON CONFLICT update
		if err := s.Put(ctx, "ezdfsfile", f); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	got, err := s.Lookup(ctx, metadata.Key{Table: "ezdfsfile", Name: f.Name})
	if err != nil || got != f {
		t.Errorf("Lookup = %+v, %v; want %+v", got, err, f)
	}
	var trunk string
	if err := s.DB().QueryRow("SELECT name_trunk FROM ezdfsfile").Scan(&trunk); err != nil || trunk != f.Name {
		t.Errorf("name_trunk = %q, %v", trunk, err)
	}
}

// TestOpenPostgresConnectionSettings checks what OpenPostgres adds to a user's URL: an
// application_name (unless given), and that sslmode=disable in the URL is honoured.
func TestOpenPostgresConnectionSettings(t *testing.T) {
	base := testenv.PostgresDatabase(t)
	for _, c := range []struct{ suffix, app string }{
		{"", sqlstore.PostgresApplicationName},
		{"&application_name=mine", "mine"},
	} {
		s, err := sqlstore.OpenPostgres(context.Background(), base+c.suffix, sqlstore.Config{Tables: bothTables}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var app, ssl string
		err = s.DB().QueryRow("SELECT current_setting('application_name'), coalesce((SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()), '?')").Scan(&app, &ssl)
		s.Close()
		if err != nil || app != c.app || ssl != "false" {
			t.Errorf("URL%s: application_name %q ssl %s (%v); want %q, ssl false", c.suffix, app, ssl, err, c.app)
		}
	}
}

func TestPostgresUnavailable(t *testing.T) {
	testUnavailable(t, "Check", (*sqlstore.Store).Check, func(t *testing.T, host string, port int) (*sqlstore.Store, error) {
		u := sqlstore.PostgresParams{Host: host, Port: port, User: "ezp", Password: "s3cret-pw", Database: "ezp",
			SSLMode: "disable"}.URL()
		return sqlstore.OpenPostgres(context.Background(), u, sqlstore.Config{Tables: bothTables, QueryTimeout: 500 * time.Millisecond}, prometheus.NewRegistry())
	})
}

func TestOpenPostgresMalformed(t *testing.T) {
	for _, u := range []string{
		"postgres://ezp:s3cret-pw@127.0.0.1:banana/ezp",
		"postgres://ezp:s3cret-pw@127.0.0.1/ezp?connect_timeout=soon",
		"postgres://ezp:s3cret-pw@127.0.0.1/ezp?sslmode=sometimes",
		"host=127.0.0.1 password='s3cret-pw",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := sqlstore.OpenPostgres(context.Background(), u, sqlstore.Config{Tables: bothTables}, nil)
			if err == nil {
				t.Fatalf("OpenPostgres(%q) succeeded", u)
			}
			if !strings.HasPrefix(err.Error(), "sqlstore: postgres connection string: ") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q: want the reason without the password", err)
			}
			t.Logf("error: %v", err)
		})
	}
	_, err := sqlstore.OpenPostgres(context.Background(), "postgres://127.0.0.1/ezp",
		sqlstore.Config{Tables: bothTables, MySQL: sqlstore.MySQLSecurity{TLS: sqlstore.TLSRequired}}, nil)
	if err == nil {
		t.Error("OpenPostgres accepted MySQL TLS settings")
	}
}

// TestPostgresParamsURL proves the URL built from parts gives pgx back every part byte for
// byte, whatever characters the password and names hold.
func TestPostgresParamsURL(t *testing.T) {
	for _, p := range []sqlstore.PostgresParams{
		{Host: "db.example", Port: 6543, User: "ezp", Password: "p@ss:w/rd?#%&=+ 'q\"é", Database: "ez db/é", ConnectTimeout: 1500 * time.Millisecond,
			SSLMode: "verify-full", SSLRootCert: "/etc/ssl/rds bundle.pem"},
		{User: "u", Database: "d"},
		{Socket: "/var/run/postgresql", User: "ezp", Password: "x", Database: "ezp", Port: 5433},
		{Host: "::1", User: "ezp", Database: "ezp"},
	} {
		u := p.URL()
		if p.SSLRootCert != "" {
			// pgx reads the CA file while parsing: check the text, then parse without it.
			if !strings.Contains(u, "sslrootcert=%2Fetc%2Fssl%2Frds+bundle.pem") || !strings.Contains(u, "sslmode=verify-full") {
				t.Errorf("URL %s lacks sslmode/sslrootcert", u)
			}
			p.SSLRootCert, p.SSLMode = "", "disable"
			u = p.URL()
		}
		c, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatalf("ParseConfig(%s): %v", u, err)
		}
		wantHost, wantPort := p.Host, p.Port
		if p.Socket != "" {
			wantHost = p.Socket
		} else if wantHost == "" {
			wantHost = "127.0.0.1"
		}
		if wantPort == 0 {
			wantPort = 5432
		}
		wantTimeout := p.ConnectTimeout
		if wantTimeout == 0 {
			wantTimeout = sqlstore.DefaultConnectTimeout
		}
		wantTimeout = (wantTimeout + time.Second - 1).Truncate(time.Second) // libpq counts whole seconds
		if c.Host != wantHost || int(c.Port) != wantPort || c.User != p.User || c.Password != p.Password || c.Database != p.Database ||
			c.ConnectTimeout != wantTimeout {
			t.Errorf("URL %s parses as host %q port %d user %q password %q db %q timeout %v; want %+v", u, c.Host, c.Port, c.User, c.Password, c.Database, c.ConnectTimeout, p)
		}
	}
	for mode, want := range map[sqlstore.TLSMode]string{"": "", sqlstore.TLSOff: "disable", sqlstore.TLSPreferred: "prefer",
		sqlstore.TLSRequired: "require", sqlstore.TLSVerifyCA: "verify-ca", sqlstore.TLSVerifyFull: "verify-full"} {
		if got, err := sqlstore.PostgresSSLMode(mode); err != nil || got != want {
			t.Errorf("PostgresSSLMode(%q) = %q, %v; want %q", mode, got, err, want)
		}
	}
	if _, err := sqlstore.PostgresSSLMode("sometimes"); err == nil {
		t.Error("PostgresSSLMode accepted an unknown mode")
	}
}
