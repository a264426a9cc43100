// Package sqlstore reads and writes eZ Publish's DFS cluster metadata tables (ezdfsfile,
// ezdfsfile_cache, or renamed copies such as Ibexa's ibexa_dfs_file) in MySQL/MariaDB,
// PostgreSQL (jackc/pgx v5 through database/sql) or an embedded SQLite file.
//
// A Lookup is one point query by name_hash, computed in Go, in exactly one round trip (MySQL
// connections interpolate parameters client-side, so no prepare/close packets are sent;
// PostgreSQL connections prepare the query once and reuse it). Rows
// are returned as they are: a deleted row (negative mtime) is a row, not metadata.ErrNotFound.
// Failures of the database wrap metadata.ErrUnavailable; a cancelled caller context comes back
// as the context's error.
//
// Metrics, on the Registerer given to OpenMySQL/OpenPostgres/OpenSQLite: ezdfsd_db_queries_total{result=
// "found"|"not_found"|"error"} and ezdfsd_db_query_duration_seconds for lookups (a lookup the
// caller cancelled is in neither), and the go_sql_* pool statistics with db_name =
// Config.MetricsName.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/prometheus/client_golang/prometheus"
)

// dialect holds what differs between MySQL, SQLite and PostgreSQL.
type dialect struct {
	name   string                                // "mysql", "sqlite" or "postgres", for messages
	quote  func(ident string) string             // identifier quoting
	schema func(table string, cache bool) string // CREATE TABLE text
	upsert func(quotedTable string) string       // INSERT ... ON DUPLICATE/CONFLICT
	where  string                                // address for messages, without credentials
	// columns is a query with one parameter, the table name, listing that table's columns
	// (no rows when the table does not exist).
	columns string
	// database names the database in operator messages, e.g. "database ezp".
	database string
	// bind rewrites a query's ? placeholders in the driver's syntax (nil: ? as is).
	bind func(query string) string
}

// query returns q with its placeholders in the dialect's syntax.
func (d dialect) query(q string) string {
	if d.bind == nil {
		return q
	}
	return d.bind(q)
}

// queries are the SQL texts of one configured table, built once at open.
type queries struct {
	lookup string
	upsert string
}

// Store is a metadata.Store and metadata.Writer over one SQL database. It is safe for
// concurrent use; Close releases the connection pool.
type Store struct {
	db      *sql.DB
	cfg     Config
	dialect dialect
	tables  map[string]queries
	metrics *metrics
}

var (
	_ metadata.Store  = (*Store)(nil)
	_ metadata.Writer = (*Store)(nil)
)

// newStore wraps db (taking ownership: it is closed on error) with validated cfg.
func newStore(db *sql.DB, cfg Config, d dialect, reg prometheus.Registerer) (*Store, error) {
	cfg = cfg.withDefaults()
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxIdleConns)
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	s := &Store{db: db, cfg: cfg, dialect: d, tables: make(map[string]queries, len(cfg.Tables))}
	for _, t := range cfg.Tables {
		q := d.quote(t)
		s.tables[t] = queries{
			lookup: d.query("SELECT datatype, scope, size, mtime, expired FROM " + q + " WHERE name_hash = ?"),
			upsert: d.query(d.upsert(q)),
		}
	}
	m, err := newMetrics(reg, db, cfg.MetricsName)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Lookup returns the row of key.Name in key.Table with one query by name_hash alone, as the
// legacy gateway does (spec §2.4: SELECT datatype, size, mtime ... WHERE name_hash = md5(name)).
// It returns metadata.ErrNotFound when there is no row, an error wrapping ErrUnknownTable for a
// table not in Config.Tables, the caller's context error when ctx ends first, and an error
// wrapping metadata.ErrUnavailable for any database failure, Config.QueryTimeout included.
//
// The name column is not read, and the returned File.Name is always key.Name, the requested
// name. Decision, following index_cluster.php: the gateway never reads the name column and
// reads the file at CLUSTER_MOUNT_POINT_PATH/<requested name> (spec §2.9), so ezdfsd finds
// the bytes (mount point or S3 key) by the requested name too. That is what serves old sites'
// rows whose name went through a latin1 connection and is stored double-encoded ("Ã©" for
// "é"): their name_hash is md5 of the UTF-8 name PHP hashed, and their file on NFS has the
// UTF-8 name, while the name column no longer byte-matches. A check of the name column (the
// former collision guard) answered 404 for them; an MD5 collision between two cluster names is
// not a practical concern, and the memcached tier keeps its own guard on the requested name.
func (s *Store) Lookup(ctx context.Context, key metadata.Key) (metadata.File, error) {
	q, ok := s.tables[key.Table]
	if !ok {
		return metadata.File{}, fmt.Errorf("sqlstore: lookup %q: %w: %q", key.Name, ErrUnknownTable, key.Table)
	}
	if err := ctx.Err(); err != nil {
		return metadata.File{}, fmt.Errorf("sqlstore: lookup %q: %w", key.Name, err)
	}
	start := time.Now()
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()

	var (
		f       metadata.File
		size    uint64
		expired int64
	)
	err := s.db.QueryRowContext(qctx, q.lookup, metadata.NameHash(key.Name)).
		Scan(&f.Datatype, &f.Scope, &size, &f.MTime, &expired)
	switch {
	case err == nil:
	case errors.Is(err, sql.ErrNoRows):
		s.metrics.observe(resultNotFound, start)
		return metadata.File{}, fmt.Errorf("sqlstore: %s: %q: %w", key.Table, key.Name, metadata.ErrNotFound)
	default:
		if ctx.Err() == nil { // a caller that gave up (or whose deadline passed) is not a database failure
			s.metrics.observe(resultError, start)
		}
		return metadata.File{}, s.dbError(ctx, fmt.Sprintf("lookup %q in %s", key.Name, key.Table), err)
	}
	if size > math.MaxInt64 {
		s.metrics.observe(resultError, start)
		return metadata.File{}, fmt.Errorf("sqlstore: %s: %q: size %d out of range: %w",
			key.Table, key.Name, size, metadata.ErrUnavailable)
	}
	f.Size = int64(size)
	f.Expired = expired != 0
	f.Name = key.Name
	s.metrics.observe(resultFound, start)
	return f, nil
}

// Put inserts or replaces the row of f.Name in table as eZ's DFS handler stores it: name_hash
// is metadata.NameHash(f.Name), name_trunk is NameTrunk(f.Name, f.Scope), and expired is 1 when
// f.Expired is set or f.MTime is negative. It rejects a negative size and an mtime outside the
// int(11) column range. Errors from the database wrap metadata.ErrUnavailable.
func (s *Store) Put(ctx context.Context, table string, f metadata.File) error {
	q, ok := s.tables[table]
	if !ok {
		return fmt.Errorf("sqlstore: put %q: %w: %q", f.Name, ErrUnknownTable, table)
	}
	if f.Size < 0 {
		return fmt.Errorf("sqlstore: put %q: negative size %d", f.Name, f.Size)
	}
	if f.MTime < math.MinInt32 || f.MTime > math.MaxInt32 {
		return fmt.Errorf("sqlstore: put %q: mtime %d does not fit eZ's int(11) column", f.Name, f.MTime)
	}
	expired := 0
	if f.Expired || f.MTime < 0 {
		expired = 1
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	_, err := s.db.ExecContext(qctx, q.upsert,
		f.Name, NameTrunk(f.Name, f.Scope), metadata.NameHash(f.Name), f.Datatype, f.Scope, f.Size, f.MTime, expired)
	if err != nil {
		return s.dbError(ctx, fmt.Sprintf("put %q in %s", f.Name, table), err)
	}
	return nil
}

// CreateSchema creates every configured table that does not exist yet, with eZ's schema
// (MySQLSchema / PostgresSchema / SQLiteSchema); tables named *_cache get the cache-table variant without
// status. Existing tables are left untouched.
func (s *Store) CreateSchema(ctx context.Context) error {
	for _, t := range s.cfg.Tables {
		for _, stmt := range splitStatements(s.dialect.schema(t, IsCacheTable(t))) {
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				return s.dbError(ctx, "create table "+t, err)
			}
		}
	}
	return nil
}

// Ping checks that the database answers, opening a connection if needed. Failures wrap
// metadata.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	if err := s.db.PingContext(qctx); err != nil {
		return s.dbError(ctx, "ping", err)
	}
	return nil
}

// Close closes the connection pool and removes the pool metrics from the Registerer.
func (s *Store) Close() error {
	s.metrics.unregister()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlstore: %s %s: close: %w", s.dialect.name, s.dialect.where, err)
	}
	return nil
}

// dbError wraps a database error with metadata.ErrUnavailable, or returns the error of the
// caller's ctx (not the one carrying QueryTimeout) when that has ended: the caller gave up.
func (s *Store) dbError(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, cerr)
	}
	return fmt.Errorf("sqlstore: %s %s: %s: %w: %w", s.dialect.name, s.dialect.where, op, metadata.ErrUnavailable, err)
}

// quoteBacktick quotes a validated identifier for MySQL.
func quoteBacktick(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }

// quoteDouble quotes a validated identifier for SQLite.
func quoteDouble(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }
