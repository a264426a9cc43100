package testkit

import (
	"context"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// StartProxy starts a fault-injecting TCP proxy in front of target (host:port), closed when the
// test ends.
func StartProxy(t testing.TB, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target)
	if err != nil {
		t.Fatalf("fault proxy for %s: %v", target, err)
	}
	t.Cleanup(p.Close)
	return p
}

// ProxyMySQL starts a StartProxy in front of the MySQL server of dsn and returns it with dsn
// rewritten to go through it.
func ProxyMySQL(t testing.TB, dsn string) (*faultproxy.Proxy, string) {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	p := StartProxy(t, c.Addr)
	c.Addr = p.Addr()
	return p, c.FormatDSN()
}

// MySQLStore opens the MySQL database of dsn as a metadata store for eZ's default tables,
// creates the schema there, and closes the store when the test ends.
func MySQLStore(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.OpenMySQL(ctx, dsn, sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
	if err != nil {
		t.Fatalf("open MariaDB: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateSchema(ctx); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	return s
}
