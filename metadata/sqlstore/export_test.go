package sqlstore

import "database/sql"

// DB exposes the pool to the external tests, e.g. to read session status on its one connection.
func (s *Store) DB() *sql.DB { return s.db }
