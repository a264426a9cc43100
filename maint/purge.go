package maint

import (
	"context"
	"fmt"

	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/maint/walk"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// PurgeStore is what Purge needs of the metadata store (sqlstore.Store).
type PurgeStore interface {
	walk.Pager
	RowPurger
}

// RowPurger purges expired rows under their row locks (sqlstore.Store.PurgeRows).
type RowPurger interface {
	PurgeRows(ctx context.Context, table string, hashes []string, removeBytes func(sqlstore.Row) error) (sqlstore.PurgeResult, error)
}

// purgeRows is the one purge protocol, shared by Purge and Fsck's repair of deleted_bytes:
// the rows of hashes are locked, the bytes of those still expired removed from the backend
// that d chooses for each name, and those rows deleted, all in one transaction
// (sqlstore.Store.PurgeRows), so that a name eZ re-created meanwhile keeps its new bytes.
func purgeRows(ctx context.Context, s RowPurger, d dfs.Dispatch, backends map[string]Bytes, table string, hashes []string) (sqlstore.PurgeResult, error) {
	return s.PurgeRows(ctx, table, hashes, func(cur sqlstore.Row) error {
		class := d.BackendFor(cur.Name)
		b := backends[class]
		if b == nil {
			return fmt.Errorf("no %s backend configured for %q", class, cur.Name)
		}
		return b.Remove(ctx, cur.Name)
	})
}

// DefaultPurgeWorkers is how many transactions Purge runs at once when Workers is 0.
const DefaultPurgeWorkers = 4

// DefaultTxRows is how many rows one purge transaction locks and removes when TxRows is 0:
// enough to spread a commit's cost, few enough that an eZ writer waiting for one of the row
// locks waits only for a few file removals.
const DefaultTxRows = 25

// Purge removes deleted cluster files for good: the rows with expired = 1 and their bytes, a
// few rows per transaction, each row's bytes removed under its row lock
// (sqlstore.Store.PurgeRows), so that a name eZ re-creates meanwhile keeps its new bytes. A row whose bytes cannot be removed is reported and skipped
// (it stays expired, for a later run); it is never retried in the same run.
type Purge struct {
	// Store reads and purges the rows.
	Store PurgeStore
	// Tables are the tables to purge (storage table and cache table).
	Tables []string
	// Dispatch picks each name's backend; Backends maps its class names to the bytes.
	Dispatch dfs.Dispatch
	Backends map[string]Bytes
	// Scopes restricts the purge to these scopes (after ExpandScopes); empty: all scopes.
	Scopes []string
	// Prefix restricts the purge to names starting with it.
	Prefix string
	// MTimeBefore, when not zero, purges only rows whose original mtime (eZ stores -mtime on
	// delete and records no deletion time) is before it.
	MTimeBefore time.Time
	// DryRun lists what would be purged and changes nothing.
	DryRun bool
	// Rate caps the rows handled per second (0: no cap).
	Rate float64
	// Batch is the number of rows read per query (0: walk.DefaultBatch).
	Batch int
	// Workers is the number of transactions run at once (0: DefaultPurgeWorkers).
	Workers int
	// TxRows is the number of rows per transaction (0: DefaultTxRows; at most Rate).
	TxRows int
	// OnRow, if set, is called for every row purged (or, in a dry run, that would be); it may
	// be called from several goroutines at once.
	OnRow func(table string, r sqlstore.Row)
	// OnError, if set, is called for every row that could not be purged.
	OnError func(table string, r sqlstore.Row, err error)
}

// PurgeReport counts what a Purge did.
type PurgeReport struct {
	// Rows and Bytes are the rows purged (or that would be, in a dry run) and their sizes.
	Rows, Bytes int64
	// Skipped counts rows that eZ re-created or refreshed between the listing and the lock.
	Skipped int64
	// Failed counts rows whose bytes could not be removed, or whose purge failed.
	Failed int64
	// Duration is the run's wall time.
	Duration time.Duration
}

// String is the one-line summary the command prints.
func (r PurgeReport) String() string {
	return fmt.Sprintf("%d rows, %d bytes; %d re-created meanwhile and kept; %d failed; in %s",
		r.Rows, r.Bytes, r.Skipped, r.Failed, r.Duration.Round(time.Millisecond))
}

// ExpandScopes returns scopes with eZ's aliases added: "media" and "mediafile" (eZ writes
// mediafile, clusterpurge.php asked for media), "image" and "images" (renamed in 5.4).
func ExpandScopes(scopes []string) []string {
	alias := map[string][]string{
		"media": {"media", "mediafile"}, "mediafile": {"media", "mediafile"},
		"image": {"image", "images"}, "images": {"image", "images"},
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range scopes {
		names := alias[s]
		if names == nil {
			names = []string{s}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Run purges every table in turn. It returns the report so far and ctx's error when ctx ends
// (Ctrl-C), and an error when a table cannot be read; failures of single rows are only counted.
func (p *Purge) Run(ctx context.Context) (PurgeReport, error) {
	start := time.Now()
	var rep purgeCounters
	err := p.run(ctx, &rep)
	out := rep.report()
	out.Duration = time.Since(start)
	return out, err
}

type purgeCounters struct{ rows, bytes, skipped, failed atomic.Int64 }

func (c *purgeCounters) report() PurgeReport {
	return PurgeReport{Rows: c.rows.Load(), Bytes: c.bytes.Load(), Skipped: c.skipped.Load(), Failed: c.failed.Load()}
}

func (p *Purge) run(ctx context.Context, rep *purgeCounters) error {
	filter := sqlstore.PageFilter{ExpiredOnly: true, Scopes: ExpandScopes(p.Scopes), NamePrefix: p.Prefix}
	if !p.MTimeBefore.IsZero() {
		filter.MTimeBefore = p.MTimeBefore.Unix()
	}
	group := p.TxRows
	if group <= 0 {
		group = DefaultTxRows
	}
	var limiter *rate.Limiter
	if p.Rate > 0 {
		group = max(1, min(group, int(p.Rate)))
		limiter = rate.NewLimiter(rate.Limit(p.Rate), group)
	}
	workers := p.Workers
	if workers <= 0 {
		workers = DefaultPurgeWorkers
	}
	for _, table := range p.Tables {
		g, gctx := errgroup.WithContext(ctx)
		groups := make(chan []sqlstore.Row)
		for range workers {
			g.Go(func() error {
				for rows := range groups {
					p.group(gctx, table, rows, rep)
				}
				return nil
			})
		}
		var pending []sqlstore.Row
		send := func() error {
			if len(pending) == 0 {
				return nil
			}
			if limiter != nil {
				if err := limiter.WaitN(gctx, len(pending)); err != nil {
					return err
				}
			}
			select {
			case groups <- pending:
				pending = nil
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		werr := walk.Rows(gctx, p.Store, table, filter, p.Batch, func(r sqlstore.Row) error {
			pending = append(pending, r)
			if len(pending) >= group {
				return send()
			}
			return nil
		})
		if werr == nil {
			werr = send()
		}
		close(groups)
		_ = g.Wait() // workers only count; they never fail the group
		if err := ctx.Err(); err != nil {
			return err
		}
		if werr != nil {
			return fmt.Errorf("purge %s: %w", table, werr)
		}
	}
	return nil
}

// group purges (or, in a dry run, lists) rows of table in one transaction.
func (p *Purge) group(ctx context.Context, table string, rows []sqlstore.Row, rep *purgeCounters) {
	if p.DryRun {
		for _, r := range rows {
			rep.rows.Add(1)
			rep.bytes.Add(r.Size)
			if p.OnRow != nil {
				p.OnRow(table, r)
			}
		}
		return
	}
	hashes := make([]string, len(rows))
	for i, r := range rows {
		hashes[i] = r.NameHash
	}
	res, err := purgeRows(ctx, p.Store, p.Dispatch, p.Backends, table, hashes)
	if err != nil {
		if ctx.Err() == nil {
			rep.failed.Add(int64(len(rows)))
			if p.OnError != nil {
				for _, r := range rows {
					p.OnError(table, r, err)
				}
			}
		}
		return
	}
	rep.skipped.Add(int64(res.NotExpired))
	for _, r := range res.Purged {
		rep.rows.Add(1)
		rep.bytes.Add(r.Size)
		if p.OnRow != nil {
			p.OnRow(table, r)
		}
	}
	for _, f := range res.Failed {
		if ctx.Err() != nil {
			continue // interrupted, not failed: the row stays for the next run
		}
		rep.failed.Add(1)
		if p.OnError != nil {
			p.OnError(table, f.Row, f.Err)
		}
	}
}
