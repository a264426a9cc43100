package config

import (
	"net/url"

	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// MySQLDSN returns the go-sql-driver/mysql DSN to open and true when Metadata is "mysql":
// mysql-dsn as given, or one built from the db-* settings with interpolateParams=true, the
// charset, and db-timeout as the dial timeout. The DSN contains the password: never log it.
func (c *Config) MySQLDSN() (string, bool) {
	if c.Metadata != "mysql" {
		return "", false
	}
	if c.DSN != "" {
		return c.DSN, true
	}
	return buildDSN(c.DB), true
}

// PostgresConnString returns the PostgreSQL connection URL to open and true when Metadata is
// "postgres": postgres-url as given (db-tls and db-tls-ca added as sslmode and sslrootcert
// when set and the URL has none), or one built from the db-* settings with db-timeout as the
// connect timeout and db-tls/db-tls-ca as sslmode/sslrootcert. The URL contains the password:
// never log it.
func (c *Config) PostgresConnString() (string, bool) {
	if c.Metadata != "postgres" {
		return "", false
	}
	sslmode, _ := sqlstore.PostgresSSLMode(c.MySQLTLS()) // db-tls is an enum of valid modes
	if c.PostgresURL != "" {
		return withSSL(c.PostgresURL, sslmode, c.DB.TLSCA), true
	}
	return sqlstore.PostgresParams{
		Host:           c.DB.Host,
		Port:           c.DB.Port,
		Socket:         c.DB.Socket,
		User:           c.DB.User,
		Password:       c.DB.Password,
		Database:       c.DB.Name,
		ConnectTimeout: c.DB.Timeout,
		SSLMode:        sslmode,
		SSLRootCert:    c.DB.TLSCA,
	}.URL(), true
}

// withSSL adds sslmode and sslrootcert to a postgres:// URL that does not set them (Validate
// refuses db-tls next to a URL with its own sslmode). A key=value connection string is
// returned as is.
func withSSL(raw, sslmode, rootCert string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return raw
	}
	q := u.Query()
	changed := false
	for k, v := range map[string]string{"sslmode": sslmode, "sslrootcert": rootCert} {
		if v != "" && !q.Has(k) {
			q.Set(k, v)
			changed = true
		}
	}
	if !changed {
		return raw
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func buildDSN(db DB) string {
	return sqlstore.MySQLParams{
		Host:           db.Host,
		Port:           db.Port,
		Socket:         db.Socket,
		User:           db.User,
		Password:       db.Password,
		Database:       db.Name,
		Charset:        db.Charset,
		ConnectTimeout: db.Timeout,
	}.DSN()
}
