package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrSchema means a configured table is missing or lacks a column that serving reads. Every
// lookup in such a table fails, so the daemon is not ready; errors.Is(err, ErrSchema) holds for
// the *SchemaError values CheckTable and Check return.
var ErrSchema = errors.New("sqlstore: table unusable for serving")

// ServingColumns are the columns a Lookup reads or filters on; CheckTable requires each of them.
var ServingColumns = []string{"name", "name_hash", "datatype", "scope", "size", "mtime", "expired"}

// SchemaError describes one configured table that serving cannot use. Its text is meant for
// operators (readiness reasons, `ezdfsd check`), e.g. "table ezdfsfile_cache does not exist in
// database ezp".
type SchemaError struct {
	// Table is the configured table name.
	Table string
	// Database names where it was looked for, e.g. `database ezp` or `sqlite database /x.db`.
	Database string
	// Missing lists the serving columns the table lacks; empty when the table itself is missing.
	Missing []string
}

// Error implements error.
func (e *SchemaError) Error() string {
	if len(e.Missing) == 0 {
		return fmt.Sprintf("table %s does not exist in %s", e.Table, e.Database)
	}
	return fmt.Sprintf("table %s in %s lacks the column(s) %s that ezdfsd reads", e.Table, e.Database, strings.Join(e.Missing, ", "))
}

// Is makes errors.Is(err, ErrSchema) true.
func (e *SchemaError) Is(target error) bool { return target == ErrSchema }

// Check reports whether the store can serve: the database answers (Ping) and every configured
// table exists with the ServingColumns (CheckTable). Problems with several tables are all
// reported, separated by "; ". A database failure wraps metadata.ErrUnavailable; a table
// problem is a *SchemaError.
func (s *Store) Check(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	var errs []error
	for _, t := range s.cfg.Tables {
		err := s.CheckTable(ctx, t)
		if err != nil && !errors.Is(err, ErrSchema) {
			return err // the database failed: one reason is enough
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joinedError(errs)
}

// joinedError reports several table problems on one line (readiness reasons are single lines).
type joinedError []error

func (j joinedError) Error() string {
	parts := make([]string, len(j))
	for i, e := range j {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (j joinedError) Unwrap() []error { return j }

// CheckTable reports whether the configured table exists with every ServingColumn, reading the
// catalog (information_schema.COLUMNS on MySQL and PostgreSQL, in the current schema there;
// pragma_table_info on SQLite) in one query
// bounded by Config.QueryTimeout. It returns a *SchemaError (wrapping ErrSchema) for a missing
// table or columns, an error wrapping ErrUnknownTable for a table not in Config.Tables, and an
// error wrapping metadata.ErrUnavailable when the database fails. A table the database user
// cannot see counts as missing.
func (s *Store) CheckTable(ctx context.Context, table string) error {
	if _, ok := s.tables[table]; !ok {
		return fmt.Errorf("sqlstore: check %q: %w", table, ErrUnknownTable)
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(qctx, s.dialect.columns, table)
	if err != nil {
		return s.dbError(ctx, "check table "+table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			return s.dbError(ctx, "check table "+table, err)
		}
		have[strings.ToLower(col)] = true // MySQL and SQLite column names are case-insensitive; PostgreSQL folds unquoted ones to lower case
	}
	if err := rows.Err(); err != nil {
		return s.dbError(ctx, "check table "+table, err)
	}
	if len(have) == 0 {
		return &SchemaError{Table: table, Database: s.dialect.database}
	}
	var missing []string
	for _, c := range ServingColumns {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &SchemaError{Table: table, Database: s.dialect.database, Missing: missing}
	}
	return nil
}

// LiveNames returns up to limit names of live rows of table (mtime > 0 and not expired), most
// recently modified first, for sampling (`ezdfsd check`). Database failures wrap
// metadata.ErrUnavailable.
func (s *Store) LiveNames(ctx context.Context, table string, limit int) ([]string, error) {
	if _, ok := s.tables[table]; !ok {
		return nil, fmt.Errorf("sqlstore: live names %q: %w", table, ErrUnknownTable)
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(qctx, s.dialect.query("SELECT name FROM "+s.dialect.quote(table)+
		" WHERE mtime > 0 AND expired = 0 ORDER BY mtime DESC LIMIT ?"), limit)
	if err != nil {
		return nil, s.dbError(ctx, "list live names in "+table, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, s.dbError(ctx, "list live names in "+table, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError(ctx, "list live names in "+table, err)
	}
	return names, nil
}
