package config

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
)

// TestPostgresURLFromParts proves metadata=postgres builds its URL from the db-* settings
// (db-port defaulting to 5432), that pgx reads every part back, and that db-tls becomes
// sslmode.
func TestPostgresURLFromParts(t *testing.T) {
	args := append([]string{"--metadata=postgres", "--db-host=db1", "--db-user=ezp", "--db-password=p@ss/w:rd?=&;#",
		"--db-name=ez cluster", "--db-timeout=3s"}, base...)
	c := mustLoad(t, args, nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.DB.Port != 5432 || c.Source("db-port").String() != "default (metadata=postgres)" {
		t.Errorf("db-port = %d from %s, want 5432 from default (metadata=postgres)", c.DB.Port, c.Source("db-port"))
	}
	u, ok := c.PostgresConnString()
	if !ok {
		t.Fatal("not postgres")
	}
	if _, mysql := c.MySQLDSN(); mysql {
		t.Error("MySQLDSN answers for metadata=postgres")
	}
	pc, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", u, err)
	}
	if pc.Host != "db1" || pc.Port != 5432 || pc.User != "ezp" || pc.Password != "p@ss/w:rd?=&;#" || pc.Database != "ez cluster" ||
		pc.ConnectTimeout != 3*time.Second {
		t.Errorf("URL %s parsed as host %s port %d user %s password %q db %q timeout %v", u, pc.Host, pc.Port, pc.User, pc.Password, pc.Database, pc.ConnectTimeout)
	}

	c = mustLoad(t, append(args, "--db-port=6432", "--db-tls=verify-full", "--db-tls-ca=/etc/ssl/rds.pem"), nil)
	u, _ = c.PostgresConnString()
	q := mustURL(t, u).Query()
	if c.DB.Port != 6432 || mustURL(t, u).Port() != "6432" || q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != "/etc/ssl/rds.pem" {
		t.Errorf("URL with db-port and db-tls = %s", u)
	}
	// metadata=mysql keeps 3306.
	if c := mustLoad(t, []string{"--db-name=ez"}, nil); c.DB.Port != 3306 || c.Metadata != "mysql" {
		t.Errorf("mysql: port %d metadata %s", c.DB.Port, c.Metadata)
	}
}

// TestPostgresURLSetting covers postgres-url: metadata=auto picks postgres, the URL is used as
// given (db-tls added only when set and the URL has no sslmode), the value is secret, a bad
// URL is named without its text, and db-tls next to the URL's own sslmode is refused.
func TestPostgresURLSetting(t *testing.T) {
	const given = "postgres://ezp:flag-s3cr3t@db2:5433/ezp?sslmode=disable"
	c := mustLoad(t, append([]string{"--postgres-url=" + given, "--db-host=ignored"}, base...), nil)
	if c.Metadata != "postgres" || c.Source("metadata").String() != "default (auto: postgres-url is set)" {
		t.Errorf("metadata = %s from %s", c.Metadata, c.Source("metadata"))
	}
	if u, ok := c.PostgresConnString(); !ok || u != given {
		t.Errorf("PostgresConnString = %q, %v; want the URL as given", u, ok)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	var dump strings.Builder
	c.Dump(&dump)
	if strings.Contains(dump.String(), "flag-s3cr3t") || !strings.Contains(dump.String(), "postgres-url = <redacted>") {
		t.Errorf("dump shows the URL or not its line:\n%s", dump.String())
	}

	c = mustLoad(t, append([]string{"--postgres-url=postgres://ezp:flag-s3cr3t@db2/ezp", "--db-tls=required"}, base...), nil)
	if u, _ := c.PostgresConnString(); mustURL(t, u).Query().Get("sslmode") != "require" {
		t.Errorf("db-tls=required with a URL without sslmode: %s", u)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--postgres-url=postgres://ezp:flag-s3cr3t@db2:x/ezp"}, `postgres-url = <redacted> (flag:--postgres-url): invalid connection URL`},
		{[]string{"--metadata=postgres"}, `db-name = "" (default): required for metadata=postgres (or give postgres-url)`},
		{[]string{"--postgres-url=" + given, "--db-tls=verify-full"}, `db-tls = "verify-full" (flag:--db-tls): postgres-url sets sslmode=disable too: give TLS in one place`},
	} {
		c := mustLoad(t, append(tc.args, base...), nil)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "flag-s3cr3t") {
			t.Errorf("%v: Validate = %v\nwant %s", tc.args, err, tc.want)
		}
	}
}

// TestPostgresFromEZ: a legacy site whose file.ini names ezpostgresqlcluster's DFS backend is
// read as metadata=postgres, with db-port 5432 unless the site gives one.
func TestPostgresFromEZ(t *testing.T) {
	root := t.TempDir()
	ini := "<?php /* #?ini charset=\"utf-8\"?\n\n[ClusteringSettings]\nFileHandler=eZDFSFileHandler\n\n" +
		"[eZDFSClusteringSettings]\nMountPointPath=/mnt/nfs\nDBBackend=eZDFSFileHandlerPostgresqlBackend\n" +
		"DBHost=pg-host\nDBName=ezp\nDBUser=ezp\nDBPassword=ini-s3cr3t\n*/ ?>\n"
	p := filepath.Join(root, "settings", "override", "file.ini.append.php")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, []string{"--ez-root=" + root}, nil)
	if c.Metadata != "postgres" || !strings.HasPrefix(c.Source("metadata").String(), "ez:settings/override/file.ini.append.php:") || c.DB.Port != 5432 {
		t.Errorf("metadata %s from %s, port %d", c.Metadata, c.Source("metadata"), c.DB.Port)
	}
	u, _ := c.PostgresConnString()
	if pu := mustURL(t, u); pu.Hostname() != "pg-host" || pu.Path != "/ezp" {
		t.Errorf("URL host %s path %s", pu.Hostname(), pu.Path)
	}
}

// TestPostgresURLConnects builds a URL from db-* parts of the test server's URL and queries
// through it.
func TestPostgresURLConnects(t *testing.T) {
	ref := mustURL(t, testenv.PostgresURL(t))
	pw, _ := ref.User.Password()
	c := mustLoad(t, nil, []string{"EZDFSD_METADATA=postgres", "EZDFSD_DB_HOST=" + ref.Hostname(), "EZDFSD_DB_PORT=" + ref.Port(),
		"EZDFSD_DB_USER=" + ref.User.Username(), "EZDFSD_DB_PASSWORD=" + pw, "EZDFSD_DB_NAME=" + strings.TrimPrefix(ref.Path, "/"),
		"EZDFSD_DB_TLS=off"})
	u, ok := c.PostgresConnString()
	if !ok {
		t.Fatal("not postgres")
	}
	pc, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*pc)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var enc string
	if err := db.QueryRowContext(ctx, "SHOW client_encoding").Scan(&enc); err != nil {
		t.Fatalf("query: %v", err)
	}
	if enc != "UTF8" {
		t.Errorf("client_encoding = %q", enc)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return u
}
