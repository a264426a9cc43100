package config

import (
	"net"
	"strconv"

	"github.com/go-sql-driver/mysql"
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

func buildDSN(db DB) string {
	cfg := mysql.NewConfig()
	cfg.User = db.User
	cfg.Passwd = db.Password
	cfg.DBName = db.Name
	if db.Socket != "" {
		cfg.Net, cfg.Addr = "unix", db.Socket
	} else {
		host := db.Host
		if host == "" {
			host = "127.0.0.1"
		}
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(db.Port))
	}
	if db.Charset != "" {
		_ = cfg.Apply(mysql.Charset(db.Charset, "")) // Charset never fails
	}
	cfg.Timeout = db.Timeout
	cfg.InterpolateParams = true
	return cfg.FormatDSN()
}
