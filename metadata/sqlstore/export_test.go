package sqlstore

import "database/sql"

// DB exposes the pool to the external tests, e.g. to read session status on its one connection.
func (s *Store) DB() *sql.DB { return s.db }

// Bind rewrites the ? placeholders of a test's own query for the store's driver ($1... on
// PostgreSQL).
func (s *Store) Bind(q string) string { return s.dialect.query(q) }
