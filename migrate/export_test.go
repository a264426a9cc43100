package migrate

import "github.com/ezdfsd/ezdfsd/metadata/sqlstore"

// SetAfterPut installs a hook run after each verified copy, before its row is read again.
func SetAfterPut(m *Migrator, f func(table string, r sqlstore.Row)) { m.afterPut = f }
