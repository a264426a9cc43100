package config

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
)

// Values of the secrets in testdata; none may appear in dumps or errors.
var testSecrets = []string{"ez-s3cr3t", "ini-s3cr3t", "file-s3cr3t", "env-s3cr3t", "flag-s3cr3t", "ez-aws-s3cr3t", "AKIAEZEXAMPLE"}

// base are arguments that make a config valid without an eZ root.
var base = []string{"--mount-point=/srv/nfs", "--served-by=test-host"}

func mustLoad(t *testing.T, args, env []string) *Config {
	t.Helper()
	c, err := Load(args, env)
	if err != nil {
		t.Fatalf("Load(%q, %q): %v", args, env, err)
	}
	return c
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ezdfsd-config-") // not t.TempDir: its name holds the subtest name
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "ezdfsd.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil)
	if c.Listen != "127.0.0.1:8081" || c.MetricsListen != "127.0.0.1:9181" || c.Metadata != "auto" ||
		c.SQLitePath != "./ezdfsd.sqlite" || c.DB.Port != 3306 || c.DB.Charset != "utf8mb4" || c.DB.MaxOpen != 32 ||
		c.DB.Timeout != 2*time.Second || c.PoweredBy != "eZ Publish" || !c.HTTPCache || !c.HTTPRange ||
		!c.Expires || c.ExpiryTimeout != 86400*time.Second || c.CacheControl || c.MissingRetries != 2 ||
		c.MissingRetryDelay != 50*time.Millisecond || c.RetryAfter != 5*time.Second || c.CacheEntries != 100000 ||
		c.StaleIfError != 5*time.Minute || c.MemcachedPrefix != "ezdfsd:" || c.MemcachedTimeout != 100*time.Millisecond ||
		c.LogFormat != "text" || c.IdleTimeout != 120*time.Second || c.WriteTimeout != 0 || c.MaxHeaderBytes != 16384 ||
		c.MaxConcurrentFetches != 256 || c.ShutdownTimeout != 30*time.Second || c.S3.FirstByteTimeout != 10*time.Second {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if h, _ := os.Hostname(); c.ServedBy != h {
		t.Errorf("served-by default = %q; want host name %q", c.ServedBy, h)
	}
	if !reflect.DeepEqual(c.ServedPatterns(), dfs.DefaultServedPatterns) {
		t.Errorf("ServedPatterns = %q", c.ServedPatterns())
	}
	if c.Tables() != dfs.DefaultTables() {
		t.Errorf("Tables = %+v", c.Tables())
	}
	if d := c.Dispatch(); d.Default != dfs.MountPointBackend || d.Rules != nil {
		t.Errorf("Dispatch = %+v", d)
	}
	if _, ok := c.MySQLDSN(); ok {
		t.Errorf("MySQLDSN ok with sqlite")
	}
	if got := c.Source("listen").String(); got != "default" {
		t.Errorf("Source(listen) = %q", got)
	}
	// Without a database setting nothing is served: SQLite is not a silent fallback. Without a
	// mount point the default backend cannot serve.
	err := c.Validate()
	for _, want := range []string{`metadata = "auto" (default (auto: no database setting)): no database settings`,
		`mount-point = "" (default): no mount point: pass --mount-point DIR`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v\nwant it to contain %s", err, want)
		}
	}
}

// TestPrecedence gives db-host (which eZ also sets) at every combination of levels.
func TestPrecedence(t *testing.T) {
	const (
		ezLevel = 1 << iota
		fileLevel
		envLevel
		flagLevel
	)
	for mask := 0; mask < 16; mask++ {
		var args, env []string
		want, wantSrc := "", "default"
		root := filepath.Join(t.TempDir(), "empty")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if mask&ezLevel != 0 {
			root = "testdata/ezroot"
			want, wantSrc = "ez-host", "ez:config.php:4"
		}
		conf := writeFile(t, "ez-root = "+root+"\n")
		if mask&fileLevel != 0 {
			conf = writeFile(t, "ez-root = "+root+"\ndb-host = file-host\n")
			want, wantSrc = "file-host", "file:"+conf+":2"
		}
		args = append(args, "--config="+conf)
		if mask&envLevel != 0 {
			env = append(env, "EZDFSD_DB_HOST=env-host")
			want, wantSrc = "env-host", "env:EZDFSD_DB_HOST"
		}
		if mask&flagLevel != 0 {
			args = append(args, "--db-host=flag-host")
			want, wantSrc = "flag-host", "flag:--db-host"
		}
		t.Run(strings.TrimSpace(strings.Join([]string{
			map[bool]string{true: "ez"}[mask&ezLevel != 0], map[bool]string{true: "file"}[mask&fileLevel != 0],
			map[bool]string{true: "env"}[mask&envLevel != 0], map[bool]string{true: "flag"}[mask&flagLevel != 0],
		}, " "))+"/", func(t *testing.T) {
			c := mustLoad(t, args, env)
			if c.DB.Host != want || c.Source("db-host").String() != wantSrc {
				t.Errorf("db-host = %q from %s; want %q from %s", c.DB.Host, c.Source("db-host"), want, wantSrc)
			}
		})
	}
}

func TestConfigAndEZRootLevels(t *testing.T) {
	// --config from env, ez-root from the file: the chain still works.
	conf := writeFile(t, "ez-root = testdata/ezroot\n")
	c := mustLoad(t, nil, []string{"EZDFSD_CONFIG=" + conf})
	if c.ConfigFile != conf || c.Source("config").String() != "env:EZDFSD_CONFIG" {
		t.Errorf("config = %q from %s", c.ConfigFile, c.Source("config"))
	}
	if c.Site == nil || c.EZRoot != "testdata/ezroot" || c.MountPoint != "/mnt/ez-nfs" {
		t.Errorf("ez-root not read from file: %+v", c)
	}
	// The flag beats the environment for both.
	c = mustLoad(t, []string{"--ez-root=testdata/ezroot-s3"}, []string{"EZDFSD_EZ_ROOT=testdata/ezroot", "EZDFSD_EXPIRY_TIMEOUT=60"})
	if c.S3.Bucket != "only-s3" {
		t.Errorf("ez-root flag lost: bucket %q", c.S3.Bucket)
	}
}

func TestFromEZ(t *testing.T) {
	c := mustLoad(t, []string{"--ez-root=testdata/ezroot"}, nil)
	checks := []struct{ name, got, want, src string }{
		{"db-host", c.DB.Host, "ez-host", "ez:config.php:4"},
		{"db-user", c.DB.User, "ezp", "ez:config.php:6"},
		{"db-password", c.DB.Password, `ez-s3cr3t=;#"'`, "ez:config.php:7"},
		{"db-name", c.DB.Name, "ezp_cluster", "ez:config.php:8"},
		{"db-charset", c.DB.Charset, "utf8", "ez:config.php:9"},
		{"mount-point", c.MountPoint, "/mnt/ez-nfs", "ez:config.php:10"},
		{"powered-by", c.PoweredBy, "", "ez:config.php:13"},
		{"default-backend", c.DefaultBackend, dfs.MountPointBackend, "ez:settings/override/file.ini.append.php:15"},
		{"s3-bucket", c.S3.Bucket, "ez-bucket", "ez:settings/override/dfsamazons3.ini.append.php:6"},
		{"s3-secret-access-key", c.S3.SecretAccessKey, "ez-aws-s3cr3t", "ez:settings/override/dfsamazons3.ini.append.php:5"},
		{"metadata", c.Metadata, "mysql", "default (auto: db-host is set)"},
	}
	for _, ck := range checks {
		if ck.got != ck.want || c.Source(ck.name).String() != ck.src {
			t.Errorf("%s = %q from %s; want %q from %s", ck.name, ck.got, c.Source(ck.name), ck.want, ck.src)
		}
	}
	if c.HTTPRange || !c.HTTPCache || c.Expires {
		t.Errorf("http-range %v http-cache %v expires %v", c.HTTPRange, c.HTTPCache, c.Expires)
	}
	want := []dfs.Rule{{Key: "var/ezdemo_site/storage/images", Backend: dfs.S3Backend}}
	if !reflect.DeepEqual(c.PathBackends, want) {
		t.Errorf("PathBackends = %+v", c.PathBackends)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// path-backend given at a higher level replaces eZ's rules as a whole.
	c = mustLoad(t, []string{"--ez-root=testdata/ezroot", "--path-backend=a/=" + dfs.MountPointBackend, "--path-backend=b/=" + dfs.S3Backend}, nil)
	want = []dfs.Rule{{Key: "a/", Backend: dfs.MountPointBackend}, {Key: "b/", Backend: dfs.S3Backend}}
	if !reflect.DeepEqual(c.PathBackends, want) || c.Source("path-backend").String() != "flag:--path-backend" {
		t.Errorf("PathBackends = %+v from %s", c.PathBackends, c.Source("path-backend"))
	}

	// DFSBackend = eZDFSFileHandlerDFSAmazon itself: everything on S3; CLUSTER_EXPIRY_TIMEOUT
	// is an expression, which is an error unless given elsewhere.
	_, err := Load([]string{"--ez-root=testdata/ezroot-s3"}, nil)
	wantErr := `config: expiry-timeout: eZ's CLUSTER_EXPIRY_TIMEOUT is a PHP expression ezdfsd cannot evaluate (config.php:2); set it with --expiry-timeout, EZDFSD_EXPIRY_TIMEOUT or "expiry-timeout = ..." in the config file`
	if err == nil || err.Error() != wantErr {
		t.Errorf("err = %v\nwant %s", err, wantErr)
	}
	c = mustLoad(t, []string{"--ez-root=testdata/ezroot-s3", "--expiry-timeout=24h"}, nil)
	if c.DefaultBackend != dfs.S3Backend || c.PathBackends != nil || c.S3.Bucket != "only-s3" {
		t.Errorf("S3-only site: default %q rules %v bucket %q", c.DefaultBackend, c.PathBackends, c.S3.Bucket)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("S3-only site needs no mount point: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	c := mustLoad(t, []string{"--config=testdata/ezdfsd.conf"}, nil)
	if c.Listen != "0.0.0.0:8081" || c.MetricsListen != "" || c.DB.Host != "file-host" || c.DB.Password != "file-s3cr3t" {
		t.Errorf("file values: %+v", c)
	}
	if want := []string{"127.0.0.1:11211", "127.0.0.1:11212"}; !reflect.DeepEqual(c.Memcached, want) {
		t.Errorf("memcached = %q", c.Memcached)
	}
	if want := []string{`^var/([^/]+/)?storage/images/.+`, `^var/([^/]+/)?cache/public/.+`}; !reflect.DeepEqual(c.ServePatterns, want) {
		t.Errorf("serve-pattern = %q", c.ServePatterns)
	}
	if c.Source("serve-pattern").String() != "file:testdata/ezdfsd.conf:10" || c.Source("listen").String() != "file:testdata/ezdfsd.conf:2" {
		t.Errorf("sources: %s, %s", c.Source("serve-pattern"), c.Source("listen"))
	}
	// The file's path-backend replaces the eZ rules; db-user still comes from eZ.
	if want := []dfs.Rule{{Key: "var/ezdemo_site/storage/original", Backend: dfs.S3Backend}}; !reflect.DeepEqual(c.PathBackends, want) {
		t.Errorf("path-backend = %+v", c.PathBackends)
	}
	if c.DB.User != "ezp" || c.ExpiryTimeout != time.Hour || c.LogLevel.String() != "DEBUG" {
		t.Errorf("db-user %q expiry %v log-level %v", c.DB.User, c.ExpiryTimeout, c.LogLevel)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestEnvLists(t *testing.T) {
	c := mustLoad(t, nil, []string{"EZDFSD_SERVE_PATTERN=^a/.+\n^b/.+\n", "EZDFSD_SERVE_ORIGINAL=yes", "EZDFSD_NOPE=1", "OTHER=x"})
	want := []string{"^a/.+", "^b/.+", dfs.OriginalStoragePattern}
	if !reflect.DeepEqual(c.ServedPatterns(), want) {
		t.Errorf("ServedPatterns = %q", c.ServedPatterns())
	}
	if !reflect.DeepEqual(c.Warnings, []string{"ignoring unknown environment variable EZDFSD_NOPE"}) {
		t.Errorf("Warnings = %q", c.Warnings)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		arg   string
		check func(c *Config) bool
	}{
		{"--expiry-timeout=off", func(c *Config) bool { return !c.Expires }},
		{"--expiry-timeout=false", func(c *Config) bool { return !c.Expires }},
		{"--expiry-timeout=true", func(c *Config) bool { return c.Expires && c.ExpiryTimeout == 86400*time.Second }},
		{"--expiry-timeout=600", func(c *Config) bool { return c.Expires && c.ExpiryTimeout == 10*time.Minute }},
		{"--expiry-timeout=0", func(c *Config) bool { return c.Expires && c.ExpiryTimeout == 0 }},
		{"--cache-ttl=90", func(c *Config) bool { return c.CacheTTL == 90*time.Second }},
		{"--cache-ttl=1m30s", func(c *Config) bool { return c.CacheTTL == 90*time.Second }},
		{"--access-log", func(c *Config) bool { return c.AccessLog }},
		{"--http-cache=false", func(c *Config) bool { return !c.HTTPCache }},
		{"--served-by=", func(c *Config) bool { return c.ServedBy == "" }},
		{"--memcached=", func(c *Config) bool { return c.Memcached == nil }},
		{"--log-level=warn", func(c *Config) bool { return c.LogLevel.String() == "WARN" }},
		{"--metadata=mysql", func(c *Config) bool { return c.Metadata == "mysql" }},
		{"--path-backend=a=b=" + dfs.S3Backend, func(c *Config) bool { return c.PathBackends[0] == dfs.Rule{Key: "a=b", Backend: dfs.S3Backend} }},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			if c := mustLoad(t, []string{tt.arg}, nil); !tt.check(c) {
				t.Errorf("unexpected result: %+v", c)
			}
		})
	}
}

// TestBadValues pins every error message; input is a config file.
func TestBadValues(t *testing.T) {
	tests := []struct {
		input, errMsg string
	}{
		{"listen = nope", `config: listen = "nope" (file:F:1): want host:port`},
		{"listen = :99999", `config: listen = ":99999" (file:F:1): port must be a number from 0 to 65535`},
		{"db-port = x", `config: db-port = "x" (file:F:1): not an integer`},
		{"db-port = 0", `config: db-port = "0" (file:F:1): out of range [1, 65535]`},
		{"serve-pattern = (", "config: serve-pattern = \"(\" (file:F:1): error parsing regexp: missing closing ): `(`"},
		{"nope = 1", `config: F:1: unknown setting "nope"`},
		{"db_host = x", `config: F:1: unknown setting "db_host" (did you mean "db-host"?)`},
		{"--listen = x", `config: F:1: unknown setting "--listen" (did you mean "listen"?)`},
		{"listen = a:1\nlisten = b:2", `config: F:2: listen already set at line 1 (only list settings may repeat)`},
		{"# comment\njust text", `config: F:2: want key = value`},
		{"= x", `config: F:1: missing key before "="`},
		{"config = other.conf", `config: F:1: "config" cannot be set in the config file itself`},
		{`powered-by = "unterminated`, `config: F:1: powered-by: malformed quoted value`},
		{"http-cache = maybe", `config: http-cache = "maybe" (file:F:1): not a boolean (want true or false)`},
		{"cache-ttl = soon", `config: cache-ttl = "soon" (file:F:1): not a duration (want seconds or a Go duration such as 10s, 5m)`},
		{"cache-ttl = -5s", `config: cache-ttl = "-5s" (file:F:1): negative duration`},
		{"expiry-timeout = never", `config: expiry-timeout = "never" (file:F:1): not a duration or off (want seconds, a Go duration such as 24h, or off)`},
		{"metadata = oracle", `config: metadata = "oracle" (file:F:1): want one of auto, mysql, postgres, sqlite`},
		{"log-format = xml", `config: log-format = "xml" (file:F:1): want one of text, json`},
		{"log-level = loud", `config: log-level = "loud" (file:F:1): want debug, info, warn or error`},
		{"path-backend = novalue", `config: path-backend = "novalue" (file:F:1): want KEY=CLASS`},
		{"path-backend = x=eZDFSFileHandlerDFSDispatcher", `config: path-backend = "x=eZDFSFileHandlerDFSDispatcher" (file:F:1): rule "x": unknown backend class "eZDFSFileHandlerDFSDispatcher" (want eZDFSFileHandlerDFSBackend or eZDFSFileHandlerDFSAmazon)`},
		{"default-backend = eZDFSFileHandlerDFSAmazon", `config: s3-bucket = "" (default): required: eZDFSFileHandlerDFSAmazon serves some names`},
		{"table = ezdfsfile; DROP TABLE x", `config: table = "ezdfsfile; DROP TABLE x" (file:F:1): not a valid table name (letters, digits, _ and $; at most 64)`},
		{"metadata = mysql", `config: db-name = "" (default): required for metadata=mysql (or give mysql-dsn)`},
		{"mysql-dsn = user:hunter2@tcp(host", `config: mysql-dsn = <redacted> (file:F:1): invalid DSN`},
		{"s3-access-key-id = AKIAHUNTER2", `config: s3-access-key-id = <redacted> (file:F:1): give both s3-access-key-id and s3-secret-access-key, or neither`},
		{"s3-bucket = my-bucket/ezdfs", `config: s3-bucket = "my-bucket/ezdfs" (file:F:1): not an S3 bucket name (3 to 63 characters, no slash or space; the key prefix is the cluster name itself)`},
		{"s3-endpoint = localhost:9000", `config: s3-endpoint = "localhost:9000" (file:F:1): want an http:// or https:// URL`},
		{`powered-by = "a\r\nX-Evil: 1"`, `config: powered-by = "a\r\nX-Evil: 1" (file:F:1): header values cannot contain CR, LF or NUL`},
		{"memcached = 127.0.0.1", `config: memcached = "127.0.0.1" (file:F:1): "127.0.0.1": want host:port`},
		{"memcached-prefix = a b", `config: memcached-prefix = "a b" (file:F:1): memcached keys cannot contain blanks or control characters (and the prefix must stay under 200 bytes)`},
		{"ez-root = testdata/does-not-exist", `config: ez-root (file:F:1): eZ root: stat testdata/does-not-exist: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			path := writeFile(t, tt.input+"\n")
			want := strings.ReplaceAll(tt.errMsg, "F:", path+":")
			args := append([]string{"--config=" + path}, base...)
			if !strings.Contains(tt.input, "metadata") && !strings.Contains(tt.input, "mysql-dsn") {
				args = append(args, "--metadata=sqlite") // else the missing database is a second error
			}
			c, err := Load(args, nil)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatalf("no error; want %s", want)
			}
			if err.Error() != want {
				t.Errorf("error\n got: %s\nwant: %s", err, want)
			}
			if strings.Contains(strings.ReplaceAll(err.Error(), path, "F"), "HUNTER2") || strings.Contains(strings.ReplaceAll(err.Error(), path, "F"), "hunter2") {
				t.Errorf("secret in error: %s", err)
			}
		})
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args   []string
		errMsg string
	}{
		{[]string{"--nope"}, "config: flag provided but not defined: --nope"},
		{[]string{"--mount-piont=/x"}, "config: flag provided but not defined: --mount-piont (did you mean --mount-point?)"},
		{[]string{"-DB_HOST=x"}, "config: flag provided but not defined: --DB_HOST (did you mean --db-host?)"},
		{[]string{"--ezroot", "/x"}, "config: flag provided but not defined: --ezroot (did you mean --ez-root?)"},
		{[]string{"--listen"}, "config: flag needs an argument: -listen"},
		{[]string{"serve"}, `config: unexpected argument "serve" (settings are --name=value)`},
		{[]string{"--db-port=x", "--db-password=hunter2", "--cache-ttl=y"}, "config: db-port = \"x\" (flag:--db-port): not an integer\ncache-ttl = \"y\" (flag:--cache-ttl): not a duration (want seconds or a Go duration such as 10s, 5m)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := Load(tt.args, nil)
			if err == nil || err.Error() != tt.errMsg {
				t.Errorf("err = %v\nwant %s", err, tt.errMsg)
			}
		})
	}
	if _, err := Load([]string{"--help"}, nil); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	c := mustLoad(t, []string{"--config=testdata/ezdfsd.conf", "--s3-access-key-id=flag-s3cr3t"},
		[]string{"EZDFSD_S3_SECRET_ACCESS_KEY=env-s3cr3t", "EZDFSD_MYSQL_DSN=u:ez-s3cr3t@tcp(h:1)/d"})
	var buf bytes.Buffer
	c.Dump(&buf)
	out := buf.String()
	for _, s := range testSecrets {
		if strings.Contains(out, s) {
			t.Errorf("Dump contains secret %q", s)
		}
	}
	for _, n := range []string{"db-password", "mysql-dsn", "s3-access-key-id", "s3-secret-access-key"} {
		if !strings.Contains(out, n+" = <redacted>\n") {
			t.Errorf("Dump lacks redacted %s", n)
		}
	}
	// A validation error elsewhere must not leak secrets either, even through wrapped errors.
	c.Listen = "nope"
	c.DB.Host = "x"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range testSecrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error contains secret %q: %v", s, err)
		}
	}
	if got := redactError(c, errors.New("wrapped: file-s3cr3t")).Error(); got != "wrapped: <redacted>" {
		t.Errorf("redactError = %q", got)
	}
}

// TestDumpRoundTrip reads a dump back as a config file and gets the same configuration.
func TestDumpRoundTrip(t *testing.T) {
	args := append([]string{"--metadata=sqlite", "--listen=:8080", "--powered-by= padded ", "--serve-pattern=^x/.+", "--serve-pattern=^y/ #not a comment",
		"--path-backend=var/a=" + dfs.S3Backend, "--s3-bucket=b", "--expiry-timeout=off", "--memcached=a:1,b:2", "--log-format=json"}, base...)
	c1 := mustLoad(t, args, nil)
	var d1 bytes.Buffer
	c1.Dump(&d1)
	// "config" cannot be set in a file; drop that line.
	text := strings.Replace(d1.String(), "config = \"\"\n", "", 1)
	c2 := mustLoad(t, []string{"--config=" + writeFile(t, text)}, nil)
	c1.sources, c2.sources, c2.ConfigFile = nil, nil, ""
	if !reflect.DeepEqual(c1, c2) {
		t.Errorf("round trip differs:\n%+v\n%+v", c1, c2)
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	var buf bytes.Buffer
	Usage(&buf, "serve")
	out := buf.String()
	if !strings.HasPrefix(out, "Settings (ezdfsd serve ") {
		t.Errorf("header: %q", out[:40])
	}
	infos := Settings()
	if len(infos) < 60 {
		t.Errorf("only %d settings", len(infos))
	}
	seenEnv := map[string]bool{}
	for _, s := range infos {
		if !strings.Contains(out, "\n  --"+s.Name+" ") {
			t.Errorf("--help lacks --%s", s.Name)
		}
		if !strings.Contains(out, "env "+s.Env+";") && !strings.Contains(out, "env "+s.Env+")") {
			t.Errorf("--help lacks env %s", s.Env)
		}
		if seenEnv[s.Env] {
			t.Errorf("duplicate env %s", s.Env)
		}
		seenEnv[s.Env] = true
		if s.Help == "" || s.Group == "" {
			t.Errorf("%s: no help or group", s.Name)
		}
	}
	for _, want := range []string{`(env EZDFSD_LISTEN; default "127.0.0.1:8081")`, "(env EZDFSD_DB_PASSWORD; secret)",
		"(env EZDFSD_PATH_BACKEND; repeatable)", `(env EZDFSD_SERVED_BY; default "(the host name)")`} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	// Every setting is reachable from the flag set, the env and the file.
	for _, s := range infos {
		if s.Name == "config" || s.Name == "ez-root" || s.Name == "project-root" { // roots: see their own tests
			continue
		}
		v := sampleValue(s)
		for _, how := range []string{"flag", "env", "file"} {
			var args, env []string
			switch how {
			case "flag":
				args = []string{"--" + s.Name + "=" + v}
			case "env":
				env = []string{s.Env + "=" + v}
			case "file":
				args = []string{"--config=" + writeFile(t, s.Name+" = "+v+"\n")}
			}
			c, err := Load(args, env)
			if err != nil {
				t.Errorf("%s via %s: %v", s.Name, how, err)
				continue
			}
			if got := c.Source(s.Name).Kind; got != map[string]SourceKind{"flag": FromFlag, "env": FromEnv, "file": FromFile}[how] {
				t.Errorf("%s via %s: source %s", s.Name, how, c.Source(s.Name))
			}
		}
	}
}

// sampleValue returns a value the setting accepts.
func sampleValue(s Info) string {
	if s.Name == "max-header-bytes" {
		return "2048"
	}
	switch lookup(s.Name).metavar {
	case "BOOL":
		return "true"
	case "N":
		return "7"
	case "DURATION", "DURATION|off":
		return "3s"
	case "KEY=CLASS":
		return "k=" + dfs.S3Backend
	}
	switch s.Name {
	case "metadata":
		return "mysql"
	case "profile":
		return "legacy"
	case "log-format":
		return "json"
	case "log-level":
		return "warn"
	case "memcached-from":
		return "testdata/php-fpm-www.conf"
	case "db-tls":
		return "required"
	case "db-password-file", "s3-secret-access-key-file":
		return "testdata/secret.txt"
	}
	return "x:1"
}

func TestMySQLDSN(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		net, addr    string
		user, passwd string
	}{
		{"tcp", []string{"--db-host=db1", "--db-port=3307", "--db-user=ezp", "--db-password=p@ss/w:rd?=&;#", "--db-name=ez"}, "tcp", "db1:3307", "ezp", "p@ss/w:rd?=&;#"},
		{"default host", []string{"--db-name=ez"}, "tcp", "127.0.0.1:3306", "", ""},
		{"ipv6", []string{"--db-host=::1", "--db-name=ez"}, "tcp", "[::1]:3306", "", ""},
		{"socket", []string{"--db-socket=/run/mysqld/mysqld.sock", "--db-host=ignored", "--db-name=ez"}, "unix", "/run/mysqld/mysqld.sock", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.args, nil)
			dsn, ok := c.MySQLDSN()
			if !ok {
				t.Fatal("not mysql")
			}
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatalf("ParseDSN: %v", err)
			}
			if cfg.Net != tt.net || cfg.Addr != tt.addr || cfg.User != tt.user || cfg.Passwd != tt.passwd || cfg.DBName != "ez" ||
				!cfg.InterpolateParams || cfg.Timeout != 2*time.Second || !strings.Contains(dsn, "charset=utf8mb4") {
				t.Errorf("DSN %s parsed as %+v", dsn, cfg)
			}
		})
	}
	c := mustLoad(t, []string{"--mysql-dsn=u:p@tcp(h:1)/d?parseTime=true", "--db-host=ignored"}, nil)
	if dsn, ok := c.MySQLDSN(); !ok || dsn != "u:p@tcp(h:1)/d?parseTime=true" {
		t.Errorf("explicit DSN = %q, %v", dsn, ok)
	}
}

// TestMySQLDSNConnects builds a DSN from db-* parts of the test server's DSN and pings it.
func TestMySQLDSNConnects(t *testing.T) {
	ref, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(ref.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, nil, []string{"EZDFSD_DB_HOST=" + host, "EZDFSD_DB_PORT=" + port, "EZDFSD_DB_USER=" + ref.User,
		"EZDFSD_DB_PASSWORD=" + ref.Passwd, "EZDFSD_DB_NAME=" + ref.DBName})
	dsn, ok := c.MySQLDSN()
	if !ok {
		t.Fatal("metadata auto did not pick mysql")
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cs string
	if err := db.QueryRowContext(ctx, "SELECT @@character_set_connection").Scan(&cs); err != nil {
		t.Fatalf("query: %v", err)
	}
	if cs != "utf8mb4" {
		t.Errorf("connection charset = %q", cs)
	}
}

func TestMemcachedFrom(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "ezpublish_prod.yml")
	if err := os.WriteFile(yml, []byte("stash:\n  caches:\n    default:\n      drivers: [Memcache]\n      Memcache:\n        servers:\n          - {server: 10.1.0.1, port: 11211}\n          - {server: 10.1.0.2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--memcached-from", yml}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Memcached, ","); got != "10.1.0.1:11211,10.1.0.2:11211" {
		t.Errorf("Memcached = %q", got)
	}
	if src := c.Source("memcached"); src.Kind != FromFlag || src.Where != yml {
		t.Errorf("source = %+v", src)
	}
	// An explicit --memcached wins over the file.
	c, err = Load([]string{"--memcached-from", yml}, []string{"EZDFSD_MEMCACHED=127.0.0.1:11311"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Memcached, ","); got != "127.0.0.1:11311" {
		t.Errorf("explicit memcached lost: %q", got)
	}
	if _, err := Load([]string{"--memcached-from", filepath.Join(dir, "missing.yml")}, nil); err == nil || !strings.Contains(err.Error(), "memcached-from (flag:--memcached-from)") {
		t.Errorf("missing file error = %v", err)
	}
}
