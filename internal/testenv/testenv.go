// Package testenv gives integration tests the real servers started by scripts/services.sh
// (MariaDB, memcached, versitygw). A missing server skips the test with a clear message when run
// locally, and fails it when CI=true, so CI never goes green by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Require returns the value of the environment variable name, or skips (locally) / fails (CI)
// the test when it is unset.
func Require(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, what+" ("+name+" unset; run ./scripts/test, which starts it)")
	}
	return v
}

// Missing skips the test locally or fails it when CI=true.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required test service missing under CI=true: %s", what)
	}
	t.Skipf("test service missing: %s", what)
}

// MySQLDSN returns the DSN of the test MariaDB server.
func MySQLDSN(t testing.TB) string {
	return Require(t, "TEST_MYSQL_DSN", "MariaDB")
}

// MySQLDatabase creates a fresh, empty database on the test MariaDB server, drops it when the
// test ends, and returns a DSN pointing at it. Tests using it can run in parallel.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	base := MySQLDSN(t)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("parse TEST_MYSQL_DSN: %v", err)
	}
	name := "ezdfsd_test_" + RandomSuffix()
	admin, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatalf("open MariaDB: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		Missing(t, "MariaDB reachable at TEST_MYSQL_DSN: "+err.Error())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin.ExecContext(ctx, "DROP DATABASE `"+name+"`")
		admin.Close()
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MemcachedAddrs returns the addresses of the test memcached nodes.
func MemcachedAddrs(t testing.TB) []string {
	return strings.Split(Require(t, "TEST_MEMCACHED_ADDR", "memcached"), ",")
}

// S3 describes the test S3 server (versitygw).
type S3 struct {
	Endpoint, AccessKey, SecretKey string
	// Root is the versitygw posix root directory (bucket = top-level directory), if known.
	Root string
}

// S3Server returns the test S3 server's coordinates.
func S3Server(t testing.TB) S3 {
	return S3{
		Endpoint:  Require(t, "TEST_S3_ENDPOINT", "S3 server (versitygw)"),
		AccessKey: Require(t, "TEST_S3_ACCESS_KEY", "S3 server (versitygw)"),
		SecretKey: Require(t, "TEST_S3_SECRET_KEY", "S3 server (versitygw)"),
		Root:      os.Getenv("TEST_S3_ROOT"),
	}
}

// RandomSuffix returns 12 random hex characters, for unique database, bucket and key names.
func RandomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Slow reports whether the slow suites and the heavy variants of tests were asked for:
// EZDFSD_SLOW_TESTS=1, which scripts/test sets for its slow step.
func Slow() bool { return os.Getenv("EZDFSD_SLOW_TESTS") == "1" }

// RequireSlow skips t unless Slow.
func RequireSlow(t testing.TB) {
	t.Helper()
	if !Slow() {
		t.Skip("slow test: set EZDFSD_SLOW_TESTS=1 (scripts/test does for its slow step)")
	}
}
