package sqlstore

// The maintenance queries (ezdfsd fsck, purge, and later migrate): keyset pages over a whole
// table, and the per-row locked purge and repair. Every SQL text of these commands is built
// here, from the dialect, so a new dialect only has to be taught this file.

import (
	"context"
	"fmt"
	"strings"

	"github.com/ezdfsd/ezdfsd/metadata"
)

// Row is one whole row of a metadata table, as the maintenance commands read it.
type Row struct {
	// Name is the name column, as stored.
	Name string
	// NameHash is the name_hash column, as stored (the primary key).
	NameHash string
	// Scope is eZ's file category.
	Scope string
	// Size is the size recorded at store time.
	Size int64
	// MTime is the mtime column; negative for a deleted file.
	MTime int64
	// Expired mirrors the expired column.
	Expired bool
	// Skip marks a row that Page returned only to carry the keyset forward: it matched the
	// filter's SQL but not its exact byte prefix. Callers ignore it apart from its NameHash.
	Skip bool
}

// Deleted reports whether eZ has deleted the row's file: a negative mtime or expired = 1.
func (r Row) Deleted() bool { return r.MTime < 0 || r.Expired }

// PageFilter restricts a Page. The zero value selects every row.
type PageFilter struct {
	// ExpiredOnly selects rows with expired = 1.
	ExpiredOnly bool
	// Scopes, when not empty, selects rows whose scope is one of these.
	Scopes []string
	// NamePrefix, when not empty, selects rows whose name starts with it.
	NamePrefix string
	// MTimeBefore, when not zero, selects rows whose original mtime (ABS(mtime)) is below it.
	MTimeBefore int64
}

// where returns the SQL condition (without WHERE) and its arguments.
func (f PageFilter) where() (string, []any) {
	var conds []string
	var args []any
	if f.ExpiredOnly {
		conds = append(conds, "expired = 1")
	}
	if len(f.Scopes) > 0 {
		conds = append(conds, "scope IN (?"+strings.Repeat(", ?", len(f.Scopes)-1)+")")
		for _, s := range f.Scopes {
			args = append(args, s)
		}
	}
	if f.NamePrefix != "" {
		// LIKE may ignore case (MySQL's _ci collations, SQLite's ASCII rule): a superset,
		// which Page narrows to the exact byte prefix.
		conds = append(conds, "name LIKE ? ESCAPE '!'")
		args = append(args, likeEscaper.Replace(f.NamePrefix)+"%")
	}
	if f.MTimeBefore != 0 {
		conds = append(conds, "ABS(mtime) < ?")
		args = append(args, f.MTimeBefore)
	}
	return strings.Join(conds, " AND "), args
}

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

const rowColumns = "name, name_hash, scope, size, mtime, expired"

func scanRow(sc interface{ Scan(...any) error }) (Row, error) {
	var (
		r       Row
		size    uint64
		expired int64
	)
	if err := sc.Scan(&r.Name, &r.NameHash, &r.Scope, &size, &r.MTime, &expired); err != nil {
		return Row{}, err
	}
	r.Size = int64(size)
	r.Expired = expired != 0
	return r, nil
}

// Page returns at most limit rows of table whose name_hash sorts after after (all rows when
// after is ""), in name_hash order, that match f: one keyset query,
// WHERE name_hash > ? ... ORDER BY name_hash LIMIT n, which costs the same on the last page as on
// the first and skips no row when earlier rows are deleted meanwhile (OFFSET paging does).
// Pass the NameHash of the last row returned as the next after; fewer than limit rows means the
// end. It uses the caller's ctx, not Config.QueryTimeout: a page of a big table may take longer.
func (s *Store) Page(ctx context.Context, table, after string, limit int, f PageFilter) ([]Row, error) {
	if _, ok := s.tables[table]; !ok {
		return nil, fmt.Errorf("sqlstore: page of %w: %q", ErrUnknownTable, table)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("sqlstore: page of %s: limit %d <= 0", table, limit)
	}
	cond, args := f.where()
	q := "SELECT " + rowColumns + " FROM " + s.dialect.quote(table) + " WHERE name_hash > ?"
	if cond != "" {
		q += " AND " + cond
	}
	q += " ORDER BY name_hash LIMIT ?"
	args = append([]any{after}, append(args, limit)...)
	rows, err := s.db.QueryContext(ctx, s.dialect.query(q), args...)
	if err != nil {
		return nil, s.dbError(ctx, "page of "+table, err)
	}
	defer rows.Close()
	out := make([]Row, 0, limit)
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, s.dbError(ctx, "page of "+table, err)
		}
		if !strings.HasPrefix(r.Name, f.NamePrefix) {
			// Keep the last hash so the caller's keyset moves on past it.
			r.Skip = true
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError(ctx, "page of "+table, err)
	}
	return out, nil
}

// PurgeResult is what PurgeRows did.
type PurgeResult struct {
	// Purged are the rows deleted, with their bytes.
	Purged []Row
	// NotExpired counts the hashes whose row was gone or no longer expired when locked (eZ
	// re-created or refreshed the name meanwhile): nothing of theirs was touched.
	NotExpired int
	// Failed are the rows whose removeBytes failed, with the errors; they stay expired.
	Failed []RowError
}

// RowError is a row that could not be purged.
type RowError struct {
	Row Row
	Err error
}

// PurgeRows removes the expired rows of hashes (name_hash values) in table for good, with
// removeBytes run for each while its row is locked. In one transaction it locks the rows
// (SELECT ... WHERE name_hash IN (...) FOR UPDATE on MySQL; on SQLite a first write takes the
// database's write lock), calls removeBytes for each row that is still expired, deletes those
// whose bytes went, and commits. eZ's store
// (spec §10.1) upserts the row with expired = 0 and writes the bytes inside one transaction,
// so it either waits for this one to commit (and then writes a new row and new bytes) or has
// committed first (and the row is then no longer expired and not selected): the bytes of a name
// eZ has just re-created are never removed.
//
// A failing removeBytes only keeps its row (reported in Failed); the error returned is a
// database failure, after which nothing is deleted (the transaction is rolled back), though
// bytes already removed stay removed: their rows, still expired, go in a later run.
func (s *Store) PurgeRows(ctx context.Context, table string, hashes []string, removeBytes func(Row) error) (PurgeResult, error) {
	if _, ok := s.tables[table]; !ok {
		return PurgeResult{}, fmt.Errorf("sqlstore: purge in %w: %q", ErrUnknownTable, table)
	}
	if len(hashes) == 0 {
		return PurgeResult{}, nil
	}
	q := s.dialect.quote(table)
	op := fmt.Sprintf("purge %d rows of %s", len(hashes), table)
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
	}
	in := "(?" + strings.Repeat(", ?", len(hashes)-1) + ")"
	// The transaction outlives a cancelled ctx (database/sql would roll it back): bytes removed
	// before a Ctrl-C still have their rows deleted. Only the locking read uses ctx.
	dctx := context.WithoutCancel(ctx)
	tx, err := s.db.BeginTx(dctx, nil)
	if err != nil {
		return PurgeResult{}, s.dbError(ctx, op, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	// By primary key only: with "AND expired = 1" MariaDB may scan (and lock) the whole
	// (expired, name) index instead of the group's rows. Expired is checked below, under the lock.
	sel := "SELECT " + rowColumns + " FROM " + q + " WHERE name_hash IN " + in + " ORDER BY name_hash"
	if s.dialect.name == "sqlite" {
		// SQLite has no row locks: a no-op write takes the database's write lock, which every
		// other writer then waits for until the commit.
		if _, err := tx.ExecContext(ctx, s.dialect.query("UPDATE "+q+" SET expired = expired WHERE name_hash IN "+in), args...); err != nil {
			return PurgeResult{}, s.dbError(ctx, op, err)
		}
	} else {
		sel += " FOR UPDATE"
	}
	rows, err := tx.QueryContext(ctx, s.dialect.query(sel), args...)
	if err != nil {
		return PurgeResult{}, s.dbError(ctx, op, err)
	}
	var locked []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return PurgeResult{}, s.dbError(ctx, op, err)
		}
		locked = append(locked, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return PurgeResult{}, s.dbError(ctx, op, err)
	}
	res := PurgeResult{NotExpired: len(hashes) - len(locked)}
	var gone []any
	for _, r := range locked {
		if !r.Expired {
			res.NotExpired++
			continue
		}
		if err := ctx.Err(); err != nil {
			break // keep what is done; commit it below
		}
		if err := removeBytes(r); err != nil {
			res.Failed = append(res.Failed, RowError{Row: r, Err: err})
			continue
		}
		res.Purged = append(res.Purged, r)
		gone = append(gone, r.NameHash)
	}
	if len(gone) > 0 {
		// These rows are locked and were expired when locked: they still are.
		del := "DELETE FROM " + q + " WHERE name_hash IN (?" + strings.Repeat(", ?", len(gone)-1) + ")"
		if _, err := tx.ExecContext(dctx, s.dialect.query(del), gone...); err != nil {
			return PurgeResult{}, s.dbError(ctx, op, err)
		}
		if err := tx.Commit(); err != nil {
			return PurgeResult{}, s.dbError(ctx, op, err)
		}
	}
	return res, nil
}

// MarkDeleted marks the row of nameHash in table deleted the way eZ's _delete does
// (mtime = -ABS(mtime), expired = 1); the row and any bytes stay for a purge. It reports
// whether a row was changed.
func (s *Store) MarkDeleted(ctx context.Context, table, nameHash string) (bool, error) {
	if _, ok := s.tables[table]; !ok {
		return false, fmt.Errorf("sqlstore: mark deleted in %w: %q", ErrUnknownTable, table)
	}
	res, err := s.db.ExecContext(ctx, s.dialect.query("UPDATE "+s.dialect.quote(table)+
		" SET mtime = -ABS(mtime), expired = 1 WHERE name_hash = ? AND expired = 0"), nameHash)
	if err != nil {
		return false, s.dbError(ctx, fmt.Sprintf("mark %s deleted in %s", nameHash, table), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.dbError(ctx, fmt.Sprintf("mark %s deleted in %s", nameHash, table), err)
	}
	return n > 0, nil
}

// Existing returns which of names have a row in table, found by name_hash = md5(name) (as the
// gateway looks rows up) or, for the names not found so, by the name column (a row whose
// name_hash is wrong still owns its file). Callers batch a few hundred names per call; it costs
// one primary-key query, plus one on the name index when some names have no row by hash. The
// map is keyed by name.
func (s *Store) Existing(ctx context.Context, table string, names []string) (map[string]bool, error) {
	if _, ok := s.tables[table]; !ok {
		return nil, fmt.Errorf("sqlstore: existing in %w: %q", ErrUnknownTable, table)
	}
	found := make(map[string]bool, len(names))
	if len(names) == 0 {
		return found, nil
	}
	byHash := make(map[string]string, len(names))
	args := make([]any, 0, len(names))
	for _, n := range names {
		h := metadata.NameHash(n)
		byHash[h] = n
		args = append(args, h)
	}
	q := s.dialect.quote(table)
	in := func(n int) string { return "(?" + strings.Repeat(", ?", n-1) + ")" }
	err := s.scanStrings(ctx, "SELECT name_hash FROM "+q+" WHERE name_hash IN "+in(len(args)), args, func(h string) {
		found[byHash[h]] = true
	})
	if err != nil {
		return nil, s.dbError(ctx, "existing in "+table, err)
	}
	var rest []any
	for _, n := range names {
		if !found[n] {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return found, nil
	}
	err = s.scanStrings(ctx, "SELECT name FROM "+q+" WHERE name IN "+in(len(rest)), rest, func(name string) {
		// The name column may compare case-insensitively: only an exact match counts.
		if _, ok := byHash[metadata.NameHash(name)]; ok {
			found[name] = true
		}
	})
	if err != nil {
		return nil, s.dbError(ctx, "existing in "+table, err)
	}
	return found, nil
}

// scanStrings runs a query of one string column and calls fn for each value.
func (s *Store) scanStrings(ctx context.Context, query string, args []any, fn func(string)) error {
	rows, err := s.db.QueryContext(ctx, s.dialect.query(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}

// Count returns the number of rows of table matching f (the name prefix as LIKE, so names
// that differ only in case may be counted too): the total for a progress display's ETA.
func (s *Store) Count(ctx context.Context, table string, f PageFilter) (int64, error) {
	if _, ok := s.tables[table]; !ok {
		return 0, fmt.Errorf("sqlstore: count of %w: %q", ErrUnknownTable, table)
	}
	cond, args := f.where()
	q := "SELECT COUNT(*) FROM " + s.dialect.quote(table)
	if cond != "" {
		q += " WHERE " + cond
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.dialect.query(q), args...).Scan(&n); err != nil {
		return 0, s.dbError(ctx, "count of "+table, err)
	}
	return n, nil
}

// MoveRow moves the row of nameHash from table from to table to, in one transaction: the row
// is locked (SELECT ... FOR UPDATE; SQLite: the database's write lock), copied into to unless
// to already has a row for that name_hash, and deleted from from. It reports whether the row
// was moved; false, with nothing changed, when from has no such row or to already has one (the
// caller leaves both for an operator to judge). fsck --repair uses it for rows that sit in the
// table the split rule does not choose for their name.
func (s *Store) MoveRow(ctx context.Context, from, to, nameHash string) (bool, error) {
	for _, t := range []string{from, to} {
		if _, ok := s.tables[t]; !ok {
			return false, fmt.Errorf("sqlstore: move row in %w: %q", ErrUnknownTable, t)
		}
	}
	op := fmt.Sprintf("move %s from %s to %s", nameHash, from, to)
	qf, qt := s.dialect.quote(from), s.dialect.quote(to)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, s.dbError(ctx, op, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	lock := "SELECT name_hash FROM " + qf + " WHERE name_hash = ? FOR UPDATE"
	if s.dialect.name == "sqlite" {
		lock = "UPDATE " + qf + " SET expired = expired WHERE name_hash = ?"
	}
	if _, err := tx.ExecContext(ctx, s.dialect.query(lock), nameHash); err != nil {
		return false, s.dbError(ctx, op, err)
	}
	// The columns both tables have (the cache table has no status column).
	const cols = "name, name_trunk, name_hash, datatype, scope, size, mtime, expired"
	res, err := tx.ExecContext(ctx, s.dialect.query("INSERT INTO "+qt+" ("+cols+") SELECT "+cols+" FROM "+qf+
		" WHERE name_hash = ? AND NOT EXISTS (SELECT 1 FROM "+qt+" WHERE name_hash = ?)"), nameHash, nameHash)
	if err != nil {
		return false, s.dbError(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.dbError(ctx, op, err)
	}
	if n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, s.dialect.query("DELETE FROM "+qf+" WHERE name_hash = ?"), nameHash); err != nil {
		return false, s.dbError(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return false, s.dbError(ctx, op, err)
	}
	return true, nil
}
