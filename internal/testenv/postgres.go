package testenv

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
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

// PrivatePostgres is a PostgreSQL server started for one test (scripts/services.sh installs
// the binaries), for settings the shared server cannot have, such as TLS with a test CA.
type PrivatePostgres struct {
	Port int
	// DataDir is the server's data directory (owned by postgres).
	DataDir string
	// Password is the superuser postgres's password.
	Password string
}

// StartPostgres initialises a fresh data directory (initdb, user postgres, scram-sha-256),
// replaces its pg_hba.conf with hba when hba is not empty, copies each of files (base name →
// content) into the data directory owned by postgres with mode 0600 (e.g. a TLS key), and runs
// the server on a free loopback port with the extra options args (e.g. -c ssl=on) until the
// test ends. The test process must be root, as the CI and the services script are.
func StartPostgres(t testing.TB, hba string, files map[string][]byte, args ...string) *PrivatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		Missing(t, "PostgreSQL server binaries (scripts/services.sh installs Debian's postgresql)")
	}
	sort.Strings(bins)
	bin := filepath.Dir(bins[len(bins)-1])
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		Missing(t, "the postgres user (Debian's postgresql package creates it)")
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	asPostgres := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, Pdeathsig: syscall.SIGKILL}
	dir := SharedTempDir(t, "ezdfsd-test-postgres-")
	p := &PrivatePostgres{DataDir: filepath.Join(dir, "data"), Password: "pg-" + RandomSuffix()}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		Missing(t, fmt.Sprintf("a directory the postgres user owns (%v)", err))
	}
	if err := os.Chown(pwfile, uid, gid); err != nil {
		t.Fatal(err)
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", p.DataDir, "-A", "scram-sha-256", "--pwfile="+pwfile,
		"-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = asPostgres
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if hba != "" {
		files = withFile(files, "pg_hba.conf", []byte(hba))
	}
	for name, data := range files {
		path := filepath.Join(p.DataDir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	for attempt := 0; ; attempt++ {
		p.Port = freeLoopbackPort(t)
		cmd := exec.Command(filepath.Join(bin, "postgres"), append([]string{"-D", p.DataDir, "-p", strconv.Itoa(p.Port),
			"-h", "127.0.0.1", "-k", dir, "-c", "fsync=off"}, args...)...)
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.SysProcAttr = asPostgres
		if err := cmd.Start(); err != nil {
			t.Fatalf("start postgres: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGINT) // fast shutdown
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		if p.waitUp(bin, exited) {
			return p
		}
		if attempt == 2 || !strings.Contains(log.String(), "already in use") {
			t.Fatalf("postgres did not start:\n%s", log.String())
		}
	}
}

// withFile returns a copy of m with k set to v.
func withFile(m map[string][]byte, k string, v []byte) map[string][]byte {
	out := map[string][]byte{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}

// waitUp waits up to 30 s for the server to accept connections (pg_isready).
func (p *PrivatePostgres) waitUp(bin string, exited chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)).Run() == nil {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
