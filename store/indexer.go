package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// New messages and conversations reach the search index in batches (see
// schema.sql, versions 5 and 6): a background loop indexes what committed in
// the last moment, and a search first catches up with whatever is still
// waiting, so results are complete. search_state records how far, by rowid.
const (
	// indexBatch is the rows per indexing transaction. Every write queued
	// behind one waits for it: 5,000 messages held the writer 25–45 ms
	// under send (its p99 was 23 ms); 500 held it a few ms (p99 18–20 ms),
	// 200 shorter still: p99 of send 19.2–20.5 -> 17.8–18.5 ms and of
	// process-sync 31.7–32.1 -> 29.3–29.5 ms at the same throughput (back to
	// back, two runs each). The segments it leaves are merged when idle.
	indexBatch = 200
	indexDelay = 250 * time.Millisecond // how long new rows may wait for the background loop
)

// noteUnindexed marks the index behind and wakes the loop (after a commit).
func (s *Store) noteUnindexed() {
	s.searchDirty.Store(true)
	select {
	case s.indexKick <- struct{}{}:
	default:
	}
}

// indexer is the background loop: it indexes new rows in batches, and tidies
// the indexes once things are quiet (tidy.go).
func (s *Store) indexer() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-s.quit; cancel() }()
	batch := time.NewTimer(time.Hour)
	batch.Stop()
	tidy := time.NewTimer(time.Hour)
	tidy.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.indexKick:
			batch.Reset(indexDelay) // let a burst accumulate into one batch
			select {
			case <-s.quit:
				return
			case <-batch.C:
			}
			s.catchUpSearch(ctx)
			tidy.Reset(tidyDelay) // every batch puts the tidying off
		case <-tidy.C:
			if !s.tidySearch(ctx) {
				tidy.Reset(tidyDelay)
			}
		}
	}
}

// catchUpSearch indexes every message and conversation committed so far
// that is not yet in the search index.
// PostgreSQL has nothing to catch up: its search columns and documents are
// written in the transactions that change them.
func (s *Store) catchUpSearch(ctx context.Context) error {
	if s.eng == enginePostgres || !s.searchDirty.Swap(false) {
		return nil
	}
	for {
		more, err := s.indexNext(ctx)
		if err != nil {
			s.searchDirty.Store(true) // try again next time
			return err
		}
		if !more {
			return nil
		}
	}
}

// indexNext indexes the next batch of unindexed messages and conversations,
// one statement each (one FTS5 flush per table for the lot), and reports
// whether more remain.
func (s *Store) indexNext(ctx context.Context) (bool, error) {
	more := false
	err := s.writeRaw(ctx, func(w *wtx) error {
		var msgFrom, convFrom int64
		if err := w.QueryRowContext(ctx, `SELECT messages_indexed_through, conversations_indexed_through
FROM search_state WHERE id = 1`).Scan(&msgFrom, &convFrom); err != nil {
			return mapErr("read search state", err)
		}
		msgThrough, msgMore, err := nextUnindexed(ctx, w, "messages", msgFrom)
		if err != nil {
			return err
		}
		convThrough, convMore, err := nextUnindexed(ctx, w, "conversations", convFrom)
		if err != nil {
			return err
		}
		if msgThrough > msgFrom {
			w.reindexed = true
			if _, err := w.ExecContext(ctx, `INSERT OR REPLACE INTO messages_search (rowid, body)
SELECT pk, content || ' ' || coalesce(extracted_text, '') FROM messages WHERE pk > ? AND pk <= ?`, msgFrom, msgThrough); err != nil {
				return fmt.Errorf("store: index messages: %w", err)
			}
		}
		if convThrough > convFrom {
			if err := indexConversations(ctx, w, `c.pk > ? AND c.pk <= ?`, convFrom, convThrough); err != nil {
				return err
			}
		}
		if msgThrough == msgFrom && convThrough == convFrom {
			return nil
		}
		if _, err := w.ExecContext(ctx, `UPDATE search_state SET messages_indexed_through = ?, conversations_indexed_through = ?
WHERE id = 1`, msgThrough, convThrough); err != nil {
			return mapErr("save search state", err)
		}
		more = msgMore || convMore
		return nil
	})
	return more, err
}

// nextUnindexed finds the end of the next batch of table's rows after from
// (from itself when there are none) and whether more follow it.
func nextUnindexed(ctx context.Context, w *wtx, table string, from int64) (int64, bool, error) {
	var through sql.NullInt64
	var n int
	if err := w.QueryRowContext(ctx, `SELECT max(pk), count(*) FROM (SELECT pk FROM `+table+` WHERE pk > ? ORDER BY pk LIMIT ?)`,
		from, indexBatch).Scan(&through, &n); err != nil {
		return 0, false, mapErr("find unindexed "+table, err)
	}
	if !through.Valid {
		return from, false, nil
	}
	return through.Int64, n == indexBatch, nil
}

// forgetDeletedRowids keeps the index from skipping rows after a delete.
// Rowids count up from the largest one present, so deleting the newest rows
// hands their rowids out again; an indexed-through mark above them would
// then pass over the new rows. Lowering it to the largest rowid left means
// they get indexed (INSERT OR REPLACE makes indexing a row twice harmless).
// PostgreSQL has neither rowids nor search_state.
func forgetDeletedRowids(ctx context.Context, w *wtx) error {
	if w.pg {
		return nil
	}
	_, err := w.ExecContext(ctx, `UPDATE search_state SET
messages_indexed_through = min(messages_indexed_through, (SELECT coalesce(max(pk), 0) FROM messages)),
conversations_indexed_through = min(conversations_indexed_through, (SELECT coalesce(max(pk), 0) FROM conversations))
WHERE id = 1`)
	return mapErr("lower search state", err)
}
