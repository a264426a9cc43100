package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteBusyTimeout is how long a SQLite connection waits for another writer's lock.
const SQLiteBusyTimeout = 5 * time.Second

// OpenSQLite returns a Store over the SQLite database file at path (created if missing), in
// WAL mode with a busy timeout of SQLiteBusyTimeout, and creates every configured table that
// is missing (CreateSchema). path is a file name, not a URI; ":memory:" and "" are refused,
// since every pooled connection would see its own empty database. Metrics go to reg (nil: none).
func OpenSQLite(ctx context.Context, path string, cfg Config, reg prometheus.Registerer) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MySQL.TLS != "" || cfg.MySQL.CAFile != "" || cfg.MySQL.Password != nil {
		return nil, errors.New("sqlstore: sqlite: TLS and per-connection passwords are MySQL settings")
	}
	if path == "" || path == ":memory:" {
		return nil, errors.New("sqlstore: sqlite: a database file path is required")
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	u.RawQuery = url.Values{"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", SQLiteBusyTimeout.Milliseconds()),
		"journal_mode(WAL)",
		"synchronous(NORMAL)",
	}}.Encode()
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sqlite %s: %w", path, err)
	}
	s, err := newStore(db, cfg, dialect{
		name:     "sqlite",
		where:    path,
		columns:  "SELECT name FROM pragma_table_info(?)",
		database: "sqlite database " + path,
		quote:    quoteDouble,
		schema:   SQLiteSchema,
		upsert: func(table string) string {
			return "INSERT INTO " + table + " (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)" +
				" VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name_hash) DO UPDATE SET" +
				" name = excluded.name, name_trunk = excluded.name_trunk, datatype = excluded.datatype," +
				" scope = excluded.scope, size = excluded.size, mtime = excluded.mtime, expired = excluded.expired"
		},
	}, reg)
	if err != nil {
		return nil, err
	}
	if err := s.CreateSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
