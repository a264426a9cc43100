package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresURL returns the connection URL of the test PostgreSQL server
// (postgres://user:pass@127.0.0.1:PORT/db?sslmode=disable).
func PostgresURL(t testing.TB) string {
	return Require(t, "TEST_POSTGRES_URL", "PostgreSQL")
}

// PostgresDatabase creates a fresh, empty database on the test PostgreSQL server, drops it
// when the test ends (closing any session left on it), and returns TEST_POSTGRES_URL pointing
// at it. Tests using it can run in parallel.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_POSTGRES_URL: not a URL")
	}
	cc, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("parse TEST_POSTGRES_URL: %v", err)
	}
	cc.ConnectTimeout = 10 * time.Second
	admin := stdlib.OpenDB(*cc)
	name := "ezdfsd_test_" + RandomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// UTF8 whatever the cluster's default, as eZ installs on PostgreSQL use.
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE "`+name+`" ENCODING 'UTF8' TEMPLATE template0`); err != nil {
		admin.Close()
		Missing(t, "PostgreSQL reachable at TEST_POSTGRES_URL: "+err.Error())
	}
	t.Cleanup(func() { dropPostgres(t, admin, name) })
	u.Path = "/" + name
	return u.String()
}

// dropPostgres drops the test database name (WITH (FORCE), PostgreSQL 13+: a pool a test left
// open must not keep it) and closes admin.
func dropPostgres(t testing.TB, admin *sql.DB, name string) {
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
		t.Logf("drop test database %s: %v", name, err)
	}
}
