package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

const fileSecret = "file-secret-Zq9" // the content of testdata/secret.txt

// TestSecretFiles checks that db-password-file and s3-secret-access-key-file supply their
// secrets (newline trimmed), name themselves as the secret's source, and never show the secret in
// `ezdfsd config` output or in error messages.
func TestSecretFiles(t *testing.T) {
	c, err := Load([]string{"--db-name=ez", "--db-user=ezp", "--db-password-file=testdata/secret.txt",
		"--s3-secret-access-key-file=testdata/secret.txt", "--s3-access-key-id=AKIA", "--mount-point=/mnt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DB.Password != fileSecret || c.S3.SecretAccessKey != fileSecret {
		t.Errorf("passwords %q and %q, want the file's content %q without its newline", c.DB.Password, c.S3.SecretAccessKey, fileSecret)
	}
	if got := c.Source("db-password").String(); got != "flag:--db-password-file" {
		t.Errorf("db-password source %q, want flag:--db-password-file", got)
	}
	if dsn, _ := c.MySQLDSN(); !strings.Contains(dsn, fileSecret) {
		t.Errorf("the DSN does not use the file's password")
	}
	var dump bytes.Buffer
	c.Dump(&dump)
	if strings.Contains(dump.String(), fileSecret) {
		t.Errorf("ezdfsd config output shows the secret:\n%s", dump.String())
	}
	if !strings.Contains(dump.String(), "db-password") || !strings.Contains(dump.String(), "<redacted>") {
		t.Errorf("ezdfsd config output lacks the redacted password:\n%s", dump.String())
	}

	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--db-password-file=" + filepath.Join(dir, "missing")}, nil, "db-password-file = " + filepath.Join(dir, "missing") + " (flag:--db-password-file): open"},
		{[]string{"--db-password-file=" + empty}, nil, "the file is empty"},
		{[]string{"--db-password-file=testdata/secret.txt"}, []string{"EZDFSD_DB_PASSWORD=other-secret"}, "db-password-file (flag:--db-password-file) and db-password (env:EZDFSD_DB_PASSWORD) are both set"},
	} {
		_, err := Load(append([]string{"--db-name=ez", "--mount-point=/mnt"}, tc.args...), tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q, %q) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), fileSecret) || strings.Contains(err.Error(), "other-secret")) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

// TestSecurityValidation pins the messages of TLS, IAM and memcached TLS mistakes.
func TestSecurityValidation(t *testing.T) {
	base := []string{"--db-name=ez", "--db-user=ezdfsd", "--mount-point=/mnt"}
	for _, tc := range []struct {
		args []string
		want string // "" = valid
	}{
		{[]string{"--db-tls=verify-full", "--db-tls-ca=/etc/rds.pem"}, ""},
		{[]string{"--db-tls=required", "--db-tls-ca=/etc/rds.pem"}, `db-tls-ca = "/etc/rds.pem" (flag:--db-tls-ca): only used with db-tls=verify-ca or verify-full (db-tls is required)`},
		{[]string{"--db-tls=on"}, `db-tls = "on" (flag:--db-tls): want one of off, preferred, required, verify-ca, verify-full`},
		{[]string{"--db-iam-auth"}, "RDS IAM tokens must travel over TLS: set db-tls=verify-full"},
		{[]string{"--db-iam-auth", "--db-tls=verify-full", "--db-password=pw"}, "with IAM the token is the password"},
		{[]string{"--db-iam-auth", "--db-tls=verify-full"}, ""},
		{[]string{"--mysql-dsn=u:p@tcp(db:3306)/ez?tls=true", "--db-tls=required"}, "mysql-dsn sets tls=true too: give TLS in one place"},
		{[]string{"--memcached=10.0.0.1:11211", "--memcached-tls-ca=/ca.pem"}, `memcached-tls-ca = "/ca.pem" (flag:--memcached-tls-ca): only used with memcached-tls=true`},
		{[]string{"--memcached=10.0.0.1:11211", "--memcached-tls", "--memcached-tls-ca=/ca.pem"}, ""},
	} {
		c, err := Load(append(append([]string{}, base...), tc.args...), nil)
		if err == nil {
			err = c.Validate()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v\nwant an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestMySQLTLSKeepsTheDSNsOwnUnlessSet(t *testing.T) {
	c, err := Load([]string{"--mysql-dsn=u:p@tcp(db:3306)/ez?tls=skip-verify"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MySQLTLS(); got != "" {
		t.Errorf("MySQLTLS() = %q with db-tls unset, want \"\" (the DSN decides)", got)
	}
	c, err = Load([]string{"--db-name=ez", "--db-tls=verify-ca"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MySQLTLS(); got != sqlstore.TLSVerifyCA {
		t.Errorf("MySQLTLS() = %q, want verify-ca", got)
	}
}
