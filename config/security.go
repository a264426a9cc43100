package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// secretFiles are the settings whose value is a file holding a secret setting's value.
var secretFiles = []struct{ file, secret string }{
	{"db-password-file", "db-password"},
	{"s3-secret-access-key-file", "s3-secret-access-key"},
}

// readSecretFiles replaces each secret by the content of its -file setting, when one is given
// (one trailing newline removed, as editors and `echo` add it). The secret's source becomes the
// file setting's, so `ezdfsd config` shows where it came from without showing it.
func (c *Config) readSecretFiles() error {
	for _, sf := range secretFiles {
		path := lookup(sf.file).show(c)[0]
		if path == "" {
			continue
		}
		if src := c.Source(sf.secret); src.Kind != FromDefault {
			return fmt.Errorf("%s (%s) and %s (%s) are both set: keep one", sf.file, c.Source(sf.file), sf.secret, src)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s = %s (%s): %w (is the file readable by the user ezdfsd runs as? with systemd LoadCredential=, use %%d/NAME)", sf.file, path, c.Source(sf.file), err)
		}
		value := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if value == "" {
			return fmt.Errorf("%s = %s (%s): the file is empty", sf.file, path, c.Source(sf.file))
		}
		if err := lookup(sf.secret).apply(c, value); err != nil {
			return fmt.Errorf("%s = %s (%s): %w", sf.file, path, c.Source(sf.file), err)
		}
		c.sources[sf.secret] = c.Source(sf.file)
	}
	return nil
}

// MySQLTLS returns the TLS mode for MySQL connections: db-tls when it was set anywhere, else ""
// (so a mysql-dsn's own tls parameter, if any, stays in charge).
func (c *Config) MySQLTLS() sqlstore.TLSMode {
	if c.Source("db-tls").Kind == FromDefault {
		return ""
	}
	return sqlstore.TLSMode(c.DB.TLS)
}

// validateSecurity adds, through bad, the problems of the TLS, IAM and secret-file settings.
func (c *Config) validateSecurity(bad func(name, format string, args ...any)) {
	verifies := c.DB.TLS == "verify-ca" || c.DB.TLS == "verify-full"
	if c.DB.TLSCA != "" && !verifies {
		bad("db-tls-ca", "only used with db-tls=verify-ca or verify-full (db-tls is %s)", c.DB.TLS)
	}
	if c.DSN != "" && c.Source("db-tls").Kind != FromDefault {
		if mc, err := mysql.ParseDSN(c.DSN); err == nil && mc.TLSConfig != "" {
			bad("db-tls", "mysql-dsn sets tls=%s too: give TLS in one place", mc.TLSConfig)
		}
	}
	if c.Metadata == "postgres" && c.PostgresURL != "" && c.Source("db-tls").Kind != FromDefault {
		if u, err := url.Parse(c.PostgresURL); err == nil && u.Query().Has("sslmode") {
			bad("db-tls", "postgres-url sets sslmode=%s too: give TLS in one place", u.Query().Get("sslmode"))
		}
	}
	if c.DB.IAMAuth {
		if c.Metadata != "mysql" {
			bad("db-iam-auth", "only for metadata=mysql (RDS)")
		}
		if c.DB.TLS != "required" && !verifies {
			bad("db-iam-auth", "RDS IAM tokens must travel over TLS: set db-tls=verify-full and db-tls-ca to the RDS global bundle")
		}
		if c.DB.Password != "" {
			bad("db-iam-auth", "db-password is set too: with IAM the token is the password; remove one")
		}
		if c.DB.User == "" && c.DSN == "" {
			bad("db-iam-auth", "needs db-user (the database user created WITH AWSAuthenticationPlugin)")
		}
	}
	if c.MemcachedTLSCA != "" && !c.MemcachedTLS {
		bad("memcached-tls-ca", "only used with memcached-tls=true")
	}
	if c.MemcachedTLSServerName != "" && !c.MemcachedTLS {
		bad("memcached-tls-server-name", "only used with memcached-tls=true")
	}
}
