package config

import "github.com/ezdfsd/ezdfsd/metadata/sqlstore"

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
