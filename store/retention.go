package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Retention: what the server keeps only for a while (events for replay,
// idempotency keys, delivered deliveries) is deleted in batches, each its own
// short write, so that a day of events going at once never holds the single
// writer for seconds (one DELETE of a minute of heavy traffic did), and the
// WAL grows by one batch at a time. The pages freed are reused by new rows;
// on a database created with auto_vacuum=INCREMENTAL (every database this
// version creates) a large surplus of them is handed back to the file system.
// On PostgreSQL the batched deletes are the same; free space is
// autovacuum's business, so ReturnFreePages does nothing there.

// pruneBatch is the rows one retention write deletes: a few milliseconds.
const pruneBatch = 1000

// pruneLoop runs batch until it deletes less than a full batch.
func pruneLoop(ctx context.Context, batch func() (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := batch()
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// PruneEvents deletes events older than cutoff for every tenant and records,
// per tenant, the highest id removed so that late readers get stream_reset.
// It walks only the old events (events_by_age), never a tenant's whole log.
func (s *Store) PruneEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	return pruneLoop(ctx, func() (int64, error) {
		var n int64
		err := s.writeRaw(ctx, func(w *wtx) error {
			rows, err := w.QueryContext(ctx, `DELETE FROM events WHERE (tenant_id, seq) IN (
SELECT tenant_id, seq FROM events WHERE created_at < ? ORDER BY created_at LIMIT ?) RETURNING tenant_id, seq`,
				cutoff.UnixMilli(), pruneBatch)
			if err != nil {
				return fmt.Errorf("store: prune events: %w", err)
			}
			through := map[string]int64{}
			for rows.Next() {
				var tenant string
				var seq int64
				if err := rows.Scan(&tenant, &seq); err != nil {
					rows.Close()
					return fmt.Errorf("store: prune events: %w", err)
				}
				through[tenant] = max(through[tenant], seq)
				n++
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("store: prune events: %w", err)
			}
			for tenant, seq := range through {
				if _, err := w.ExecContext(ctx, retentionSQL[s.eng].markPruned, seq, tenant); err != nil {
					return mapErr("mark pruned events", err)
				}
			}
			return nil
		})
		return n, err
	})
}

// PruneIdempotency forgets request keys older than the TTL.
func (s *Store) PruneIdempotency(ctx context.Context) (int64, error) {
	cutoff := s.now().Add(-IdempotencyTTL).UnixMilli()
	return pruneLoop(ctx, func() (int64, error) {
		var n int64
		err := s.writeRaw(ctx, func(w *wtx) error {
			res, err := w.ExecContext(ctx, `DELETE FROM idempotency WHERE (tenant_id, key) IN (
SELECT tenant_id, key FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)`, cutoff, pruneBatch)
			if err != nil {
				return mapErr("prune idempotency", err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		return n, err
	})
}

// PruneDeliveries deletes deliveries delivered before cutoff. Failed ones
// stay: an operator may still retry them. The outbox has no index by
// delivery time (one would cost every attempt a write), so a reader finds
// the rows, walking the table once in rowid order, and the writer deletes
// them by rowid.
func (s *Store) PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	if s.eng == enginePostgres {
		return s.pgPruneDeliveries(ctx, cutoff)
	}
	var after int64
	return pruneLoop(ctx, func() (int64, error) {
		rows, err := s.query(ctx, `SELECT rowid FROM deliveries WHERE rowid > ? AND status = ? AND delivered_at < ?
ORDER BY rowid LIMIT ?`, after, DeliveryDelivered, cutoff.UnixMilli(), pruneBatch)
		if err != nil {
			return 0, mapErr("find old deliveries", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, mapErr("find old deliveries", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return 0, mapErr("find old deliveries", err)
		}
		if len(ids) == 0 {
			return 0, nil
		}
		after = ids[len(ids)-1]
		list, _ := json.Marshal(ids)
		err = s.writeRaw(ctx, func(w *wtx) error {
			_, err := w.ExecContext(ctx, `DELETE FROM deliveries WHERE rowid IN (SELECT value FROM json_each(?)) AND status = ?`,
				string(list), DeliveryDelivered)
			return mapErr("prune deliveries", err)
		})
		if err != nil {
			return 0, err
		}
		return int64(len(ids)), nil
	})
}

// pgPruneDeliveries is PruneDeliveries on PostgreSQL, where there is no
// single writer to keep free and so no reason to find the rows apart: each
// batch is one DELETE of the oldest delivered rows, found by the partial
// index deliveries_delivered. (Without it, each batch scanned the table from
// the start, and once VACUUM has freed space there, new rows land among the
// old: the last batch of every run read the whole table.)
func (s *Store) pgPruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	return pruneLoop(ctx, func() (int64, error) {
		var n int64
		err := s.writeRaw(ctx, func(w *wtx) error {
			res, err := w.ExecContext(ctx, `DELETE FROM deliveries WHERE (tenant_id, id) IN (
SELECT tenant_id, id FROM deliveries WHERE status = 'delivered' AND delivered_at < $2 ORDER BY delivered_at LIMIT $3)
AND status = $1`,
				DeliveryDelivered, cutoff.UnixMilli(), pruneBatch)
			if err != nil {
				return mapErr("prune deliveries", err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		return n, err
	})
}

// retentionQueries are the retention statements whose text differs between
// the engines: SQLite's two-argument max is PostgreSQL's GREATEST.
type retentionQueries struct {
	markPruned string // a tenant's pruned-through mark only moves up
}

var retentionSQL = [...]retentionQueries{
	engineSQLite:   {markPruned: `UPDATE tenants SET events_pruned_through = max(events_pruned_through, ?) WHERE id = ?`},
	enginePostgres: {markPruned: `UPDATE tenants SET events_pruned_through = GREATEST(events_pruned_through, $1) WHERE id = $2`},
}

// Free pages are handed back to the file system only when they are a large
// surplus: a quarter of the file and at least freeSurplusPages; then down to
// freeKeepPages, kept for the next rows. Fewer are simply reused (moving
// pages costs writes).
const (
	freeSurplusPages = 4096 // 16 MB
	freeKeepPages    = 1024 // 4 MB
	vacuumStep       = 256  // pages moved per write: a few ms
)

// ReturnFreePages shrinks the database file by its free pages when they are a
// large surplus, a step at a time, and reports the pages returned. Databases
// created before auto_vacuum=INCREMENTAL keep their free pages for reuse.
func (s *Store) ReturnFreePages(ctx context.Context) (int64, error) {
	if s.eng == enginePostgres {
		return 0, nil // PostgreSQL's autovacuum reuses and returns space itself
	}
	var mode int
	if err := s.queryRow(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		return 0, mapErr("auto_vacuum mode", err)
	}
	f, err := s.FileStats(ctx)
	if err != nil {
		return 0, err
	}
	if f.FreelistPages < freeSurplusPages || f.FreelistPages*4 < f.Bytes/max(f.PageSize, 1) {
		return 0, nil
	}
	var returned int64
	for f.FreelistPages > freeKeepPages {
		if err := ctx.Err(); err != nil {
			return returned, err
		}
		err = s.writeRaw(ctx, func(w *wtx) error {
			// incremental_vacuum returns no rows, but runs only as it is
			// stepped through: Exec does that.
			_, err := w.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, min(vacuumStep, f.FreelistPages-freeKeepPages)))
			return mapErr("incremental vacuum", err)
		})
		if err != nil {
			return returned, err
		}
		before := f.FreelistPages
		if f, err = s.FileStats(ctx); err != nil {
			return returned, err
		}
		if f.FreelistPages >= before {
			return returned, nil // nothing moved: stop rather than spin
		}
		returned += before - f.FreelistPages
	}
	return returned, nil
}
