package sqlstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults applied by OpenMySQL, OpenPostgres and OpenSQLite to zero Config fields.
const (
	DefaultMaxOpenConns    = 32
	DefaultMaxIdleConns    = 16
	DefaultConnMaxLifetime = 5 * time.Minute
	DefaultQueryTimeout    = 2 * time.Second
	// DefaultMetricsName is the db_name label of the connection-pool metrics.
	DefaultMetricsName = "metadata"
)

// ErrUnknownTable means a Lookup or Put named a table that is not in Config.Tables. It is a
// configuration mistake, neither metadata.ErrNotFound nor metadata.ErrUnavailable.
var ErrUnknownTable = errors.New("sqlstore: table not configured")

// Config tunes a Store. The zero value of every field except Tables means "use the default".
type Config struct {
	// Tables lists the table names the store may query and write, e.g. ezdfsfile and
	// ezdfsfile_cache (ibexa_dfs_file on Ibexa). Each must match [A-Za-z0-9_]+; the names are
	// put into SQL text, so nothing else is accepted. At least one is required.
	Tables []string
	// MaxOpenConns caps the connection pool (default 32).
	MaxOpenConns int
	// MaxIdleConns is the number of idle connections kept (default 16, at most MaxOpenConns).
	MaxIdleConns int
	// ConnMaxLifetime recycles connections after this age (default 5m), so a failover or a
	// server-side idle kill does not leave dead connections in the pool.
	ConnMaxLifetime time.Duration
	// QueryTimeout bounds each Lookup and Put, connection set-up included (default 2s).
	QueryTimeout time.Duration
	// MySQL is how MySQL connections are encrypted and authenticated beyond the DSN (TLS,
	// IAM tokens); OpenSQLite and OpenPostgres refuse a Config that sets it.
	MySQL MySQLSecurity
	// MetricsName is the db_name label of the connection-pool metrics (default "metadata").
	// Stores registered on the same Registerer need distinct MetricsNames.
	MetricsName string
	// Logger receives the MySQL driver's messages (nil: discarded).
	Logger *slog.Logger
}

// Validate reports the first problem with c, without applying defaults.
func (c Config) Validate() error {
	if len(c.Tables) == 0 {
		return errors.New("sqlstore: config: no tables")
	}
	seen := make(map[string]bool, len(c.Tables))
	for _, t := range c.Tables {
		if err := checkIdent(t); err != nil {
			return fmt.Errorf("sqlstore: config: %w", err)
		}
		if seen[t] {
			return fmt.Errorf("sqlstore: config: table %q listed twice", t)
		}
		seen[t] = true
	}
	switch {
	case c.MaxOpenConns < 0:
		return fmt.Errorf("sqlstore: config: MaxOpenConns %d < 0", c.MaxOpenConns)
	case c.MaxIdleConns < 0:
		return fmt.Errorf("sqlstore: config: MaxIdleConns %d < 0", c.MaxIdleConns)
	case c.ConnMaxLifetime < 0:
		return fmt.Errorf("sqlstore: config: ConnMaxLifetime %v < 0", c.ConnMaxLifetime)
	case c.QueryTimeout < 0:
		return fmt.Errorf("sqlstore: config: QueryTimeout %v < 0", c.QueryTimeout)
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxIdleConns > c.MaxOpenConns {
		c.MaxIdleConns = c.MaxOpenConns
	}
	if c.ConnMaxLifetime == 0 {
		c.ConnMaxLifetime = DefaultConnMaxLifetime
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.MetricsName == "" {
		c.MetricsName = DefaultMetricsName
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// checkIdent accepts SQL identifiers made of [A-Za-z0-9_], at most 64 bytes (MySQL's limit).
func checkIdent(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("invalid table name %q: want 1-64 characters [A-Za-z0-9_]", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("invalid table name %q: want 1-64 characters [A-Za-z0-9_]", s)
		}
	}
	return nil
}
