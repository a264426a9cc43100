package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"mysql dsn tcp", "ezp:ezp-pass@tcp(127.0.0.1:13306)/ezp", "ezp:***@tcp(127.0.0.1:13306)/ezp"},
		{"mysql dsn unix", "root:pw@unix(/run/mysqld/mysqld.sock)/ezp?charset=utf8", "root:***@unix(/run/mysqld/mysqld.sock)/ezp?charset=utf8"},
		{"mysql dsn no address", "u:p@/db", "u:***@/db"},
		{"mysql dsn password with @", "u:p@ss:w@rd@tcp(h:3306)/db", "u:***@tcp(h:3306)/db"},
		{"mysql dsn in a sentence", "open mysql dsn=ezp:x@tcp(db)/ezp failed", "open mysql dsn=ezp:***@tcp(db)/ezp failed"},
		{"url userinfo", "dial http://minio:minio123@s3.local:9000/bucket", "dial http://minio:***@s3.local:9000/bucket"},
		{"url user only", "http://user@host/x", "http://user@host/x"},
		{"mysql url", "mysql://ezp:secret@db/ezp", "mysql://ezp:***@db/ezp"},
		{"password kv", "host=db user=ezp password=hunter2 dbname=ezp", "host=db user=ezp password=*** dbname=ezp"},
		{"password kv upper env", "EZDFSD_DB_PASSWORD=hunter2", "EZDFSD_DB_PASSWORD=***"},
		{"password quoted", `password="a b c" next`, `password=*** next`},
		{"password query", "x?user=u&password=p%40ss&tls=true", "x?user=u&password=***&tls=true"},
		{"secret key", "secret_key=abc123 region=x", "secret_key=*** region=x"},
		{"pwd colon", "pwd: abc", "pwd: ***"},
		{"no secret", "GET /var/ezdemo_site/storage/images/a/b.jpg 200", "GET /var/ezdemo_site/storage/images/a/b.jpg 200"},
		{"address only", "listening on 127.0.0.1:8081", "listening on 127.0.0.1:8081"},
		{"image name with colon and at", "/var/site/storage/images/foo:bar@2x.png", "/var/site/storage/images/foo:bar@2x.png"},
		{"empty", "", ""},
		{"mysql access denied", "Error 1045 (28000): Access denied for user 'ezp'@'127.0.0.1' (using password: YES)",
			"Error 1045 (28000): Access denied for user 'ezp'@'127.0.0.1' (using password: YES)"},
		{"mysql access denied, no password", "Access denied for user 'ezp'@'h' (using password: NO)",
			"Access denied for user 'ezp'@'h' (using password: NO)"},
		{"password YES) elsewhere", "password: YES) pwd: NO)", "password: *** pwd: ***"},
		{"access denied beside a dsn", "ezp:pw@tcp(db)/ezp: Access denied (using password: YES)",
			"ezp:***@tcp(db)/ezp: Access denied (using password: YES)"},
		{"already redacted", "ezp:***@tcp(h)/d password=***", "ezp:***@tcp(h)/d password=***"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Fatalf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		level        slog.Level
		wantErr      bool
		debugShown   bool
		infoShown    bool
		json         bool
	}{
		{name: "defaults", infoShown: true},
		{name: "text info", format: "text", level: slog.LevelInfo, infoShown: true},
		{name: "json debug", format: "json", level: slog.LevelDebug, debugShown: true, infoShown: true, json: true},
		{name: "upper case", format: "JSON", level: slog.LevelDebug, debugShown: true, infoShown: true, json: true},
		{name: "warn hides info", format: "text", level: slog.LevelWarn},
		{name: "between levels", format: "text", level: slog.LevelInfo + 2},
		{name: "error", format: "json", level: slog.LevelError, json: true},
		{name: "bad format", format: "xml", level: slog.LevelInfo, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := NewLogger(&buf, tc.format, tc.level)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("dbg-line")
			l.Info("info-line")
			l.Error("err-line")
			out := buf.String()
			if strings.Contains(out, "dbg-line") != tc.debugShown || strings.Contains(out, "info-line") != tc.infoShown ||
				!strings.Contains(out, "err-line") {
				t.Fatalf("level filtering wrong:\n%s", out)
			}
			if tc.json {
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Fatalf("not JSON: %q", line)
					}
				}
			} else if !strings.Contains(out, "msg=err-line") {
				t.Fatalf("not text format: %s", out)
			}
		})
	}
}

func TestNewLoggerRedacts(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := NewLogger(&buf, format, slog.LevelInfo)
			if err != nil {
				t.Fatal(err)
			}
			l.Info("connecting to ezp:pw1@tcp(db)/ezp",
				"dsn", "ezp:pw2@tcp(db)/ezp",
				"err", errors.New("dial http://k:pw3@s3/ failed"),
				"n", 3)
			l.With("url", "http://k:pw4@s3/").WithGroup("g").Info("x", "password", "pw5", "kv", "password=pw6")
			out := buf.String()
			for _, secret := range []string{"pw1", "pw2", "pw3", "pw4", "pw5", "pw6"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s leaked:\n%s", secret, out)
				}
			}
			if !strings.Contains(out, "***") {
				t.Errorf("nothing redacted:\n%s", out)
			}
		})
	}
}

func TestNewLoggerNilWriter(t *testing.T) {
	l, err := NewLogger(nil, "", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("discarded")
}
