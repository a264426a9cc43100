package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ezdfsd/ezdfsd/metadata"
)

// WithRowLock runs fn while the row of nameHash in table is locked against eZ's writers, then
// commits without changing the row. fn gets the row as locked and whether there is one. In one
// transaction it reads the row with SELECT ... FOR UPDATE (MySQL, PostgreSQL; on SQLite a no-op
// write takes the database's write lock). eZ's store upserts the row and writes the bytes in one
// transaction (spec §10.1), so while fn runs no store of that name can commit: ezdfsd migrate
// removes a name's source bytes in fn only if the row still has the mtime it copied. fn's error
// is returned as it is.
func (s *Store) WithRowLock(ctx context.Context, table, nameHash string, fn func(r Row, found bool) error) error {
	if _, ok := s.tables[table]; !ok {
		return fmt.Errorf("sqlstore: lock row in %w: %q", ErrUnknownTable, table)
	}
	q := s.dialect.quote(table)
	op := "lock row " + nameHash + " of " + table
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.dbError(ctx, op, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	sel := "SELECT " + rowColumns + " FROM " + q + " WHERE name_hash = ?"
	if s.dialect.name == "sqlite" {
		if _, err := tx.ExecContext(ctx, s.dialect.query("UPDATE "+q+" SET expired = expired WHERE name_hash = ?"), nameHash); err != nil {
			return s.dbError(ctx, op, err)
		}
	} else {
		sel += " FOR UPDATE"
	}
	r, err := scanRow(tx.QueryRowContext(ctx, s.dialect.query(sel), nameHash))
	found := true
	if errors.Is(err, sql.ErrNoRows) {
		found, err = false, nil
	}
	if err != nil {
		return s.dbError(ctx, op, err)
	}
	if err := fn(r, found); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.dbError(ctx, op, err)
	}
	return nil
}

// Row returns the row of name in table, and false when there is none: the maintenance
// commands' fresh read of one row (no cache, no QueryTimeout but the caller's ctx).
func (s *Store) Row(ctx context.Context, table, name string) (Row, bool, error) {
	if _, ok := s.tables[table]; !ok {
		return Row{}, false, fmt.Errorf("sqlstore: row of %w: %q", ErrUnknownTable, table)
	}
	r, err := scanRow(s.db.QueryRowContext(ctx, s.dialect.query("SELECT "+rowColumns+" FROM "+s.dialect.quote(table)+
		" WHERE name_hash = ?"), metadata.NameHash(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, false, nil
	}
	if err != nil {
		return Row{}, false, s.dbError(ctx, "row of "+table, err)
	}
	return r, true, nil
}
