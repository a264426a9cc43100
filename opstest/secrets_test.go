package opstest

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

// TestSlowSecretsNeverShown runs the real binary with its database password and S3 secret key
// read from files (db-password-file, s3-secret-access-key-file), both wrong, so the database
// and the bucket refuse them and the daemon logs and reports those failures at debug level. The
// secrets must appear nowhere: not in the logs (JSON, debug), not in /readyz or /metrics, not in
// `ezdfsd config`, and not in the goroutine dump a crash prints (SIGQUIT writes the same dump
// as an unrecovered panic).
func TestSlowSecretsNeverShown(t *testing.T) {
	testenv.RequireSlow(t)
	dsn := testenv.MySQLDatabase(t)
	srv := testenv.S3Server(t)
	db, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(db.Addr, ":")
	const (
		dbSecret = "db-Secret-4f1c-never-shown"
		s3Secret = "s3-Secret-9b7e-never-shown"
	)
	dir := t.TempDir()
	dbFile, s3File := filepath.Join(dir, "db-password"), filepath.Join(dir, "s3-secret")
	for f, v := range map[string]string{dbFile: dbSecret + "\n", s3File: s3Secret + "\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mount := t.TempDir()
	writeFile(t, filepath.Join(mount, "var/site/storage/images/a/x.jpg"), content(10, 1))
	filesAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--listen=" + filesAddr, "--metrics-listen=" + metricsAddr,
		"--db-host=" + host, "--db-port=" + port, "--db-user=" + db.User, "--db-name=" + db.DBName,
		"--db-password-file=" + dbFile, "--db-timeout=1s", "--mount-point=" + mount,
		"--path-backend=images/s3=eZDFSFileHandlerDFSAmazon", "--s3-bucket=ezdfsd-secrets-test",
		"--s3-endpoint=" + srv.Endpoint, "--s3-path-style", "--s3-region=us-east-1",
		"--s3-access-key-id=" + srv.AccessKey, "--s3-secret-access-key-file=" + s3File,
		"--log-format=json", "--log-level=debug", "--access-log", "--readiness-interval=200ms"}
	bin := buildBinary(t)

	var shown []string // everything the daemon showed anyone
	out, _ := exec.Command(bin, append([]string{"config"}, args...)...).CombinedOutput()
	shown = append(shown, "ezdfsd config:\n"+string(out))
	if !strings.Contains(string(out), "db-password") || !strings.Contains(string(out), "flag:--db-password-file") {
		t.Errorf("ezdfsd config does not show where the password came from:\n%s", out)
	}

	var logs testkit.SyncBuffer
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GOTRACEBACK=all"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	c := newClient(t)
	metricsURL := "http://" + metricsAddr
	var ready response
	if !waitFor(15*time.Second, 100*time.Millisecond, func() bool {
		r, err := try(c, http.MethodGet, metricsURL+"/readyz")
		ready = r
		return err == nil && bytes.Contains(r.Body, []byte("Access denied")) && bytes.Contains(r.Body, []byte("s3"))
	}) {
		t.Fatalf("/readyz never reported both refusals: %d %s", ready.Code, ready.Body)
	}
	shown = append(shown, "/readyz:\n"+string(ready.Body))
	for _, name := range []string{"var/site/storage/images/a/x.jpg", "var/site/storage/images/s3/y.jpg"} {
		r := do(t, c, http.MethodGet, "http://"+filesAddr+"/"+name)
		shown = append(shown, "GET "+name+":\n"+string(r.Body))
	}
	shown = append(shown, "/metrics:\n"+string(do(t, c, http.MethodGet, metricsURL+"/metrics").Body))

	// SIGQUIT: the Go runtime prints every goroutine's stack and exits, as on a panic.
	cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGQUIT")
	}
	if !strings.Contains(logs.String(), "goroutine ") || !strings.Contains(logs.String(), "SIGQUIT") {
		t.Fatalf("no goroutine dump after SIGQUIT:\n%s", testkit.Tail(logs.String(), 2000))
	}
	if !strings.Contains(logs.String(), "Access denied") {
		t.Errorf("the logs never mention the refused database password, so this test proves little:\n%s", testkit.Tail(logs.String(), 4000))
	}
	shown = append(shown, "logs and crash dump:\n"+logs.String())

	for _, s := range shown {
		for _, secret := range []string{dbSecret, s3Secret} {
			if i := strings.Index(s, secret); i >= 0 {
				head, _, _ := strings.Cut(s, "\n")
				t.Errorf("secret %q shown in %s …%s…", secret, head, s[max(0, i-200):min(len(s), i+100)])
			}
		}
	}
}
