package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SharedTempDir returns a new directory under the system temp dir, readable by every user
// (servers that drop privileges, such as mariadbd and memcached, must reach their files; a
// t.TempDir is 0700), removed when the test ends.
func SharedTempDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PrivateMariaDB is a MariaDB server started for one test (scripts/services.sh installs the
// binaries), for settings the shared server cannot have, such as TLS with a test CA.
type PrivateMariaDB struct {
	Port   int
	Socket string
}

// StartMariaDB initialises a fresh data directory and runs mariadbd on a free loopback port
// with the extra server options args (e.g. --ssl-cert=…) until the test ends. Use Exec to run
// SQL as root.
func StartMariaDB(t testing.TB, args ...string) *PrivateMariaDB {
	t.Helper()
	for _, bin := range []string{"mariadbd", "mariadb-install-db", "mariadb"} {
		if _, err := exec.LookPath(bin); err != nil {
			Missing(t, bin+" (MariaDB server: scripts/services.sh installs mariadb-server-core)")
		}
	}
	dir := SharedTempDir(t, "ezdfsd-test-mariadb-")
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The server runs as mysql and writes its socket and log next to the data directory.
	if out, err := exec.Command("chown", "mysql:mysql", dir, data).CombinedOutput(); err != nil {
		Missing(t, fmt.Sprintf("the mysql user for a private MariaDB (%v: %s)", err, out))
	}
	small := []string{"--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M", "--innodb-data-file-path=ibdata1:4M:autoextend"}
	install := exec.Command("mariadb-install-db", append([]string{"--no-defaults", "--user=mysql", "--datadir=" + data,
		"--auth-root-authentication-method=socket", "--skip-test-db"}, small...)...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &PrivateMariaDB{Socket: filepath.Join(dir, "mysqld.sock")}
	var log bytes.Buffer
	for attempt := 0; ; attempt++ {
		m.Port = freeLoopbackPort(t)
		cmd := exec.Command("mariadbd", append(append([]string{"--no-defaults", "--user=mysql", "--datadir=" + data,
			"--socket=" + m.Socket, "--port=" + strconv.Itoa(m.Port), "--bind-address=127.0.0.1",
			"--skip-name-resolve", "--log-error=" + filepath.Join(dir, "error.log")}, small...), args...)...)
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mariadbd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		if m.waitUp(exited) {
			return m
		}
		errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		if attempt == 2 || !strings.Contains(string(errLog), "Address already in use") {
			t.Fatalf("mariadbd did not start:\n%s\n%s", log.String(), errLog)
		}
	}
}

// waitUp waits up to 30 s for the server to answer on its socket.
func (m *PrivateMariaDB) waitUp(exited chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if exec.Command("mariadb", "-S", m.Socket, "-e", "SELECT 1").Run() == nil {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Exec runs sql as the server's root user (over its socket) and fails the test on error.
func (m *PrivateMariaDB) Exec(t testing.TB, sql string) {
	t.Helper()
	if out, err := exec.Command("mariadb", "-S", m.Socket, "-e", sql).CombinedOutput(); err != nil {
		t.Fatalf("mariadb: %v: %s", err, out)
	}
}

// StartMemcached runs a memcached on a free loopback port with the extra options args (e.g.
// -Z -o ssl_chain_cert=…) until the test ends, and returns its host:port.
func StartMemcached(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		Missing(t, "memcached (scripts/services.sh installs it)")
	}
	for attempt := 0; ; attempt++ {
		port := freeLoopbackPort(t)
		var out bytes.Buffer
		cmd := exec.Command("memcached", append([]string{"-u", "nobody", "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "16"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start memcached: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if waitListening(addr, exited) {
			return addr
		}
		if attempt == 2 {
			t.Fatalf("memcached did not start: %s", out.String())
		}
	}
}

// waitListening waits up to 5 s for addr to accept connections; false when the server exited.
func waitListening(addr string, exited chan struct{}) bool {
	for i := 0; i < 100; i++ {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// freeLoopbackPort returns a loopback TCP port that was free a moment ago.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
