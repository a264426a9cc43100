package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
)

// runCmd runs one ezdfsd command line to completion.
func runCmd(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb testkit.SyncBuffer
	code = run(context.Background(), args, environ, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, path string, data []byte, mtime int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if mtime != 0 {
		tm := time.Unix(mtime, 0)
		if err := os.Chtimes(path, tm, tm); err != nil {
			t.Fatal(err)
		}
	}
}

// phpString quotes s as a PHP single-quoted string literal.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// writeConfigPHP writes an eZ root's config.php with the cluster constants for a database.
func writeConfigPHP(t *testing.T, root, host string, port int, user, pass, db, mount string) {
	t.Helper()
	writeFile(t, filepath.Join(root, "config.php"), []byte("<?php\n"+
		"define( 'CLUSTER_STORAGE_BACKEND', 'dfsmysqli' );\n"+
		"define( 'CLUSTER_STORAGE_HOST', "+phpString(host)+" );\n"+
		"define( 'CLUSTER_STORAGE_PORT', "+strconv.Itoa(port)+" );\n"+
		"define( 'CLUSTER_STORAGE_USER', "+phpString(user)+" );\n"+
		"define( 'CLUSTER_STORAGE_PASS', "+phpString(pass)+" );\n"+
		"define( 'CLUSTER_STORAGE_DB', "+phpString(db)+" );\n"+
		"define( 'CLUSTER_STORAGE_CHARSET', 'utf8' );\n"+
		"define( 'CLUSTER_MOUNT_POINT_PATH', "+phpString(mount)+" );\n"+
		"?>\n"), 0)
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			m.Set(x, y, color.NRGBA{uint8(x * 6), uint8(y * 8), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// importRow is one ezdfsfile row as MariaDB holds it.
type importRow struct {
	table, nameHash, nameTrunk, datatype, scope string
	size, mtime                                 int64
	expired                                     int
}

// TestImportCommand runs `ezdfsd import` on an eZ root whose config.php points at a fresh
// MariaDB database, checks the rows in MariaDB itself, runs it again (nothing changes), then
// runs `ezdfsd serve` on the same root and GETs the files.
func TestImportCommand(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	dc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, portText, err := net.SplitHostPort(dc.Addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	root, mount := t.TempDir(), t.TempDir()
	writeConfigPHP(t, root, host, port, dc.User, dc.Passwd, dc.DBName, mount)

	const site = "var/ezdemo_site/"
	pic := pngBytes(t)
	files := []struct {
		name     string
		data     []byte
		mtime    int64
		table    string
		datatype string
		scope    string
	}{
		{site + "storage/images/design/logo/1-1-eng-GB/logo.png", pic, 1700000000, "ezdfsfile", "image/png", "image"},
		// The content decides for images (clusterize.php uses eZMimeType::findByFileContents).
		{site + "storage/images/design/logo/1-1-eng-GB/logo_large.jpg", pic, 1700000100, "ezdfsfile", "image/png", "image"},
		{site + "cache/public/stylesheets/5b4c8e.css", []byte("body{margin:0}\n"), 1700000200, "ezdfsfile_cache", "text/css", "ezjscore"},
		{site + "storage/original/application/4f1e2d.pdf", []byte("%PDF-1.4\n%manual\n"), 1700000300, "ezdfsfile", "application/pdf", "binaryfile"},
	}
	var total int
	for _, f := range files {
		writeFile(t, filepath.Join(root, filepath.FromSlash(f.name)), f.data, f.mtime)
		total += len(f.data)
	}

	code, out, errOut := runCmd(t, nil, "import", "--ez-root", root, "--create-schema")
	t.Logf("first import: %s", strings.TrimSpace(out))
	if code != 0 {
		t.Fatalf("import exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if want := fmt.Sprintf("imported %d (%d bytes), unchanged 0, skipped 0, failed 0", len(files), total); !strings.Contains(out, want) {
		t.Errorf("first import printed %q, want it to contain %q", out, want)
	}

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]importRow{}
	for _, table := range []string{"ezdfsfile", "ezdfsfile_cache"} {
		rows, err := db.Query("SELECT name, name_hash, name_trunk, datatype, scope, size, mtime, expired FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			r := importRow{table: table}
			if err := rows.Scan(&name, &r.nameHash, &r.nameTrunk, &r.datatype, &r.scope, &r.size, &r.mtime, &r.expired); err != nil {
				t.Fatal(err)
			}
			got[name] = r
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if len(got) != len(files) {
		t.Errorf("%d rows in MariaDB, want %d: %v", len(got), len(files), got)
	}
	for _, f := range files {
		t.Run("row/"+filepath.Base(f.name), func(t *testing.T) {
			sum := md5.Sum([]byte(f.name))
			want := importRow{table: f.table, nameHash: hex.EncodeToString(sum[:]), nameTrunk: f.name, datatype: f.datatype,
				scope: f.scope, size: int64(len(f.data)), mtime: f.mtime}
			if r, ok := got[f.name]; !ok || r != want {
				t.Errorf("row\n got %+v\nwant %+v", r, want)
			}
			onMount, err := os.ReadFile(filepath.Join(mount, filepath.FromSlash(f.name)))
			if err != nil || !bytes.Equal(onMount, f.data) {
				t.Errorf("mount point copy: %v (%d bytes, want %d)", err, len(onMount), len(f.data))
			}
		})
	}

	code, out, errOut = runCmd(t, nil, "import", "--ez-root", root)
	t.Logf("second import: %s", strings.TrimSpace(out))
	if code != 0 {
		t.Fatalf("second import exit %d: %s", code, errOut)
	}
	if want := fmt.Sprintf("imported 0 (0 bytes), unchanged %d, skipped 0, failed 0", len(files)); !strings.Contains(out, want) {
		t.Errorf("second import printed %q, want it to contain %q", out, want)
	}

	// Serve the same root exactly as a user would, and GET the imported files.
	ctx, cancel := context.WithCancel(context.Background())
	var serveOut, serveErr testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--ez-root", root, "--listen", "127.0.0.1:0", "--metrics-listen", "",
			"--serve-original", "--shutdown-timeout", "2s"}, nil, &serveOut, &serveErr)
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit %d\n%s", code, serveErr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	addr := waitListening(t, &serveErr, done)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for _, f := range files {
		t.Run("GET/"+filepath.Base(f.name), func(t *testing.T) {
			resp, err := client.Get("http://" + addr + "/" + f.name)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			ctype := f.datatype
			if strings.HasPrefix(ctype, "text/") {
				ctype += ";charset=UTF-8"
			}
			if resp.StatusCode != 200 || !bytes.Equal(body, f.data) || resp.Header.Get("Content-Type") != ctype ||
				resp.Header.Get("Etag") != fmt.Sprintf(`"%d-%d"`, f.mtime, len(f.data)) {
				t.Errorf("%d %q ETag %q, %d bytes; want 200 %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"),
					resp.Header.Get("Etag"), len(body), ctype, len(f.data))
			}
		})
	}
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// waitListening waits for the serve command's "listening" log line and returns the address.
func waitListening(t *testing.T, stderr *testkit.SyncBuffer, done <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before listening:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not log its address within 10s:\n%s", stderr.String())
	return ""
}

// TestHelpListsEverySetting checks the command-line contract: `ezdfsd --help` and
// `ezdfsd serve --help` list every setting's flag and environment variable.
func TestHelpListsEverySetting(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}, {"import", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			settings := config.Settings()
			if len(settings) < 40 {
				t.Fatalf("only %d settings", len(settings))
			}
			for _, s := range settings {
				if !regexp.MustCompile(`(?m)^\s*--` + regexp.QuoteMeta(s.Name) + `\b`).MatchString(out) {
					t.Errorf("flag --%s not listed", s.Name)
				}
				if !strings.Contains(out, "env "+s.Env) {
					t.Errorf("environment variable %s (for --%s) not listed", s.Env, s.Name)
				}
			}
		})
	}
}

// TestConfigRedactsSecrets runs `ezdfsd config` with secrets coming from every level (eZ's
// config.php, the environment, flags): none is printed, and each setting says where it came from.
func TestConfigRedactsSecrets(t *testing.T) {
	root, mount := t.TempDir(), t.TempDir()
	const dbPass = `p=a;s#s"w'rd`
	writeConfigPHP(t, root, "db.internal", 3306, "ezp", dbPass, "ezp", mount)
	const s3Secret = "S3-secret-from-env/xyz"
	const dsnPass = "dsn-pass-on-the-command-line"
	environ := []string{"EZDFSD_S3_SECRET_ACCESS_KEY=" + s3Secret, "EZDFSD_S3_ACCESS_KEY_ID=AKIAEXAMPLE"}

	code, out, errOut := runCmd(t, environ, "config", "--ez-root", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"db-password = <redacted>", "s3-secret-access-key = <redacted>", "db-host = db.internal",
		"mount-point = " + mount, "config.php"} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q", want)
		}
	}
	code, out2, errOut2 := runCmd(t, environ, "config", "--ez-root", root, "--mysql-dsn", "ezp:"+dsnPass+"@tcp(db:3306)/ezp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut2)
	}
	for _, secret := range []string{dbPass, "s#s", s3Secret, dsnPass, "AKIAEXAMPLE"} {
		for _, text := range []string{out, errOut, out2, errOut2} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q printed:\n%s", secret, text)
			}
		}
	}
}

// TestBadCommandLines checks that mistakes exit 2 with a message naming the mistake.
func TestBadCommandLines(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of stderr
	}{
		{[]string{"serve", "--no-such-flag"}, []string{"no-such-flag", "not defined", "ezdfsd serve --help"}},
		{[]string{"import", "--no-such-flag=1"}, []string{"no-such-flag", "not defined"}},
		{[]string{"config", "--cache-ttl", "soon"}, []string{"cache-ttl", "duration"}},
		{[]string{"serve", "--db-port", "99999"}, []string{"db-port", "range"}},
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{nil, []string{"Usage:"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, nil, c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stdout %q)", code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

// TestMaintenanceStoppedByAnError: when the database cannot be read, fsck, purge and migrate
// exit 2, print the error, and their summary says the run stopped; fsck used to end its
// summary with "clean", and migrate's dry run with "nothing copied", as if all had been seen.
func TestMaintenanceStoppedByAnError(t *testing.T) {
	down := []string{"--mysql-dsn", "u:p@tcp(127.0.0.1:1)/ezp", "--mount-point", t.TempDir()}
	cases := []struct {
		args []string
		want string // the summary's last line starts so
	}{
		{[]string{"fsck"}, "ezdfsd fsck: stopped by an error with 0 finding(s)"},
		{[]string{"purge"}, "ezdfsd purge: stopped by an error: removed 0 rows"},
		{[]string{"purge", "--dry-run"}, "ezdfsd purge: stopped by an error: dry run: would remove 0 rows"},
		{[]string{"migrate"}, "ezdfsd migrate: stopped by an error: copied 0 files"},
		{[]string{"migrate", "--dry-run"}, "ezdfsd migrate: stopped by an error: dry run: 0 rows"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, nil, append(c.args, down...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut, "connection refused") {
				t.Errorf("stderr %q does not give the database error", errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, c.want) {
				t.Errorf("summary ends %q, want it to start %q\n%s", last, c.want, out)
			}
			if strings.Contains(out, "clean") {
				t.Errorf("summary says clean after an error:\n%s", out)
			}
		})
	}
}

// TestLogLevelAcceptedByConfigIsUsed: a level the log-level setting accepts (slog's syntax,
// e.g. "info+2") reaches the logger as is; it used to be printed and parsed a second time by
// ops, which refused it after config had said yes.
func TestLogLevelAcceptedByConfigIsUsed(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "var", "site", "storage", "images", "a.txt"), []byte("hi"), 1700000000)
	code, out, errOut := runCmd(t, nil, "import", "--metadata=sqlite", "--sqlite="+filepath.Join(root, "db.sqlite"),
		"--mount-point="+root, "--ez-root="+root, "--create-schema", "--log-level=info+2")
	if code != 0 || !strings.Contains(out, "imported 1") {
		t.Fatalf("import --log-level=info+2: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestTakeDir: import's and demo's --dir, in every flag form, is taken out of the arguments and
// the rest is left in order for the daemon settings.
func TestTakeDir(t *testing.T) {
	for _, c := range []struct {
		args    []string
		dir     string
		rest    []string
		wantErr bool
	}{
		{args: []string{"--listen", ":1"}, dir: "def", rest: []string{"--listen", ":1"}},
		{args: []string{"--dir", "a", "--listen", ":1"}, dir: "a", rest: []string{"--listen", ":1"}},
		{args: []string{"--listen", ":1", "-dir", "b"}, dir: "b", rest: []string{"--listen", ":1"}},
		{args: []string{"--dir=c"}, dir: "c"},
		{args: []string{"-dir=d", "--x"}, dir: "d", rest: []string{"--x"}},
		{args: []string{"--dir"}, wantErr: true},
	} {
		dir, rest, err := takeDir(c.args, "def")
		if (err != nil) != c.wantErr || dir != c.dir || strings.Join(rest, " ") != strings.Join(c.rest, " ") {
			t.Errorf("takeDir(%q) = %q, %q, %v; want %q, %q, error %v", c.args, dir, rest, err, c.dir, c.rest, c.wantErr)
		}
	}
	if code, _, errOut := runCmd(t, nil, "demo", "--dir"); code != 2 || !strings.Contains(errOut, "--dir needs a value") {
		t.Errorf("demo --dir: exit %d, stderr %q; want 2 naming the missing value", code, errOut)
	}
}

// runNoPanic runs one ezdfsd command line and turns a panic into a test failure with its value,
// so that a start-up path that panics is reported as such rather than killing the test binary.
// A command that starts serving instead of failing is stopped after a while (and exits 0).
func runNoPanic(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("ezdfsd %s panicked: %v", strings.Join(args, " "), p)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb testkit.SyncBuffer
	code = run(ctx, args, environ, &out, &errb)
	return code, out.String(), errb.String()
}

// TestStartupFailures drives every failing start-up path of `ezdfsd serve` through the CLI: each
// exits 2 without a panic, names the setting, where its value came from and what to do, and
// nothing is created in the working directory (no silent ./ezdfsd.sqlite).
func TestStartupFailures(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "a-file")
	writeFile(t, file, []byte("x"), 0)
	missing := filepath.Join(dir, "not-mounted")
	sqlite := []string{"--metadata", "sqlite", "--sqlite", filepath.Join(dir, "db", "ezdfs.sqlite")}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An eZ root whose only mount point setting is a line eZ ignores (blank before "=").
	badINI := filepath.Join(dir, "ezpublish_legacy")
	writeFile(t, filepath.Join(badINI, "config.php"), []byte("<?php\ndefine( 'CLUSTER_STORAGE_HOST', 'db.internal' );\ndefine( 'CLUSTER_STORAGE_DB', 'ezp' );\n"), 0)
	writeFile(t, filepath.Join(badINI, "settings", "override", "file.ini.append.php"),
		[]byte("<?php /* #?ini charset=\"utf-8\"?\n\n[eZDFSClusteringSettings]\nMountPointPath = /mnt/nfs\n*/ ?>\n"), 0)

	cases := []struct {
		name string
		args []string
		env  []string
		want []string // substrings of stderr
	}{
		{"missing mount point", append([]string{"--mount-point", missing}, sqlite...),
			nil, []string{`mount-point = "` + missing + `" (flag:--mount-point): no such directory`, "is the NFS share mounted", "fix --mount-point"}},
		{"mount point is a file", sqlite, []string{"EZDFSD_MOUNT_POINT=" + file},
			[]string{`mount-point = "` + file + `" (env:EZDFSD_MOUNT_POINT): not a directory`, "fix EZDFSD_MOUNT_POINT"}},
		{"SQLite in a missing directory", []string{"--mount-point", dir, "--metadata=sqlite", "--sqlite", filepath.Join(missing, "x.sqlite")},
			nil, []string{`sqlite = "` + filepath.Join(missing, "x.sqlite") + `" (flag:--sqlite): directory ` + missing + " does not exist", "mkdir -p " + missing}},
		{"no database settings", []string{"--mount-point", dir},
			nil, []string{`metadata = "auto" (default (auto: no database setting)): no database settings`, "one of three ways",
				"--ez-root DIR", "CLUSTER_STORAGE_HOST", "--db-host", "--config FILE", "--metadata sqlite"}},
		{"malformed INI line", []string{"--ez-root", badINI},
			nil, []string{`mount-point = "" (default): no mount point: CLUSTER_MOUNT_POINT_PATH is not defined in ` + filepath.Join(badINI, "config.php"),
				"[eZDFSClusteringSettings] MountPointPath is not set in settings/override/file.ini.append.php", "is " + badINI + " the eZ legacy root?",
				"settings/override/file.ini.append.php:4: space before \"=\"", "eZ ignores this line"}},
		{"unknown flag", []string{"--mount-piont", dir},
			nil, []string{"--mount-piont", "did you mean --mount-point?"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", ""}, c.args...)
			code, _, errOut := runNoPanic(t, c.env, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "ezdfsd.sqlite")); err == nil {
		t.Errorf("a start-up failure left ./ezdfsd.sqlite in the working directory")
	}
}

// TestImportUnknownFlagSuggestsOwnFlag: import's own flags take part in the suggestion.
func TestImportUnknownFlagSuggestsOwnFlag(t *testing.T) {
	code, _, errOut := runNoPanic(t, nil, "import", "--create-shema")
	if code != 2 || !strings.Contains(errOut, "did you mean --create-schema?") {
		t.Errorf("exit %d, stderr %q; want 2 suggesting --create-schema", code, errOut)
	}
	code, _, errOut = runNoPanic(t, nil, "serv")
	if code != 2 || !strings.Contains(errOut, `unknown command "serv" (did you mean "serve"?)`) {
		t.Errorf("exit %d, stderr %q; want 2 suggesting serve", code, errOut)
	}
}

// TestListenInUseExitsTwo: a listen address already taken is a start-up failure naming the
// setting (exit 2), not a run-time error.
func TestListenInUseExitsTwo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	code, _, errOut := runNoPanic(t, nil, "serve", "--listen", ln.Addr().String(), "--metrics-listen", "",
		"--metadata=sqlite", "--sqlite", filepath.Join(dir, "db.sqlite"), "--mount-point", dir)
	if code != 2 || !strings.Contains(errOut, `listen = \"`+ln.Addr().String()+`\" (flag:--listen): bind: address already in use; fix --listen`) {
		t.Errorf("exit %d; want 2 naming --listen; stderr:\n%s", code, errOut)
	}
}

// TestConfigCommandShowsBrokenConfig: `ezdfsd config` prints what it found even when it cannot
// start, then the problems (exit 2), so the sources can be inspected.
func TestConfigCommandShowsBrokenConfig(t *testing.T) {
	code, out, errOut := runNoPanic(t, nil, "config", "--mount-point", "/srv/nfs")
	if code != 2 || !strings.Contains(out, "# flag:--mount-point\nmount-point = /srv/nfs\n") ||
		!strings.Contains(out, "# default (auto: no database setting)\nmetadata = auto\n") || !strings.Contains(errOut, "no database settings") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestCommandHelp: each subcommand's --help starts with what the command does, then its own
// flags, then the shared settings.
func TestCommandHelp(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		own  []string
		desc string
	}{
		{"serve", nil, "Serve eZ Publish cluster files"},
		{"import", []string{"dir DIR", "create-schema"}, "clusterize.php"},
		{"demo", []string{"dir DIR"}, "Generate sample eZ files"},
		{"config", nil, "Print the effective configuration"},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			code, out, errOut := runNoPanic(t, nil, c.cmd, "--help")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			first, _, _ := strings.Cut(out, "\n")
			if !strings.HasPrefix(first, "ezdfsd "+c.cmd+": ") || !strings.Contains(out[:strings.Index(out, "Usage:")], c.desc) {
				t.Errorf("help does not start with a description: %q", first)
			}
			settings := strings.Index(out, "\nSettings (")
			if settings < 0 || !strings.Contains(out[settings:], "\n  --mount-point ") {
				t.Fatalf("no settings section:\n%s", out)
			}
			for _, f := range c.own {
				if i := strings.Index(out, "\n  --"+f+"\n"); i < 0 || i > settings {
					t.Errorf("own flag --%s not listed before the settings", f)
				}
			}
		})
	}
}

// TestVersionFromBuildInfo: without -X main.version, `ezdfsd version` reports what the go
// command embedded: the module version or, for a plain go build in a checkout, the revision and
// whether the tree was dirty. It used to print "dev" for every build.
func TestVersionFromBuildInfo(t *testing.T) {
	const rev = "17f9886c0ffee0ddba11ca7d2bfa3c4e5d6e7f80"
	for _, c := range []struct {
		name     string
		main     string
		settings []debug.BuildSetting
		want     string
	}{
		{"go build in a dirty checkout", "(devel)", []debug.BuildSetting{{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-02T15:00:00Z"}, {Key: "vcs.modified", Value: "true"}},
			"ezdfsd devel-17f9886c0ffe+dirty (revision " + rev + "+dirty, committed 2026-12-02T15:00:00Z, go1.26.8)\n"},
		{"go install module@version", "v1.4.0", nil, "ezdfsd v1.4.0 (go1.26.8)\n"},
		{"pseudo-version", "v0.0.0-20261202150000-17f9886c0ffe+dirty", []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}},
			"ezdfsd v0.0.0-20261202150000-17f9886c0ffe+dirty (revision " + rev + "+dirty, go1.26.8)\n"},
		{"no VCS information", "(devel)", nil, "ezdfsd dev (go1.26.8)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := readBuildInfo
			t.Cleanup(func() { readBuildInfo = old })
			readBuildInfo = func() (*debug.BuildInfo, bool) {
				return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ezdfsd/ezdfsd", Version: c.main}, Settings: c.settings}, true
			}
			if code, out, _ := runNoPanic(t, nil, "version"); code != 0 || out != c.want {
				t.Errorf("exit %d, %q; want %q", code, out, c.want)
			}
		})
	}
}

// TestVersionOfBuiltBinary builds ezdfsd as a user would in a git checkout (go build, with VCS
// stamping on) and checks `ezdfsd version` names the checkout's revision, not "dev".
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	if st, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !st.IsDir() {
		t.Skip("go stamps VCS information only where .git is a directory (not in a git worktree)")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ezdfsd")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out)
	if strings.TrimSpace(string(out)) == "ezdfsd dev" || !strings.Contains(string(out), "revision "+strings.TrimSpace(string(head))) {
		t.Errorf("ezdfsd version = %q; want the revision %s", out, head)
	}
}
