// Package walk lists a whole cluster with bounded memory, for the maintenance commands (fsck,
// purge, migrate): the rows of a metadata table by keyset pages, the files below a mount point,
// and the objects of a bucket. Each walker hands one item at a time to a callback and stops at
// the first error the callback returns or when ctx ends.
package walk

import (
	"context"
	"fmt"

	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// DefaultBatch is the page size of Rows when none is given.
const DefaultBatch = 1000

// Pager reads keyset pages of a table (sqlstore.Store.Page).
type Pager interface {
	Page(ctx context.Context, table, after string, limit int, f sqlstore.PageFilter) ([]sqlstore.Row, error)
}

// Rows calls fn for every row of table that matches f, in name_hash order, reading batch rows
// per query (DefaultBatch when batch <= 0) by keyset paging: WHERE name_hash > last ORDER BY
// name_hash LIMIT batch. Only one page is held in memory. Rows that fn deletes, and rows that
// others insert or delete meanwhile, never make it skip a row that stays (OFFSET paging would).
func Rows(ctx context.Context, p Pager, table string, f sqlstore.PageFilter, batch int, fn func(sqlstore.Row) error) error {
	if batch <= 0 {
		batch = DefaultBatch
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("walk %s: %w", table, err)
		}
		page, err := p.Page(ctx, table, after, batch, f)
		if err != nil {
			return fmt.Errorf("walk %s: %w", table, err)
		}
		for _, r := range page {
			after = r.NameHash
			if r.Skip {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < batch {
			return nil
		}
	}
}
