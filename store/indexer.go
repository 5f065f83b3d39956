package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// New messages reach the search index in batches (see schema.sql, version 5):
// a background loop indexes what committed in the last moment, and a search
// first catches up with whatever is still waiting, so results are complete.
const (
	indexBatch = 5000                   // messages per indexing transaction
	indexDelay = 250 * time.Millisecond // how long new messages may wait for the background loop
)

// noteNewMessages marks the index behind and wakes the loop (after a commit).
func (s *Store) noteNewMessages() {
	s.searchDirty.Store(true)
	select {
	case s.indexKick <- struct{}{}:
	default:
	}
}

// indexer is the background loop.
func (s *Store) indexer() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.indexKick:
			t.Reset(indexDelay) // let a burst accumulate into one batch
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
			s.catchUpSearch(context.Background())
		}
	}
}

// catchUpSearch indexes every message committed so far that is not yet in
// the search index.
func (s *Store) catchUpSearch(ctx context.Context) error {
	if !s.searchDirty.Swap(false) {
		return nil
	}
	for {
		more, err := s.indexMessages(ctx)
		if err != nil {
			s.searchDirty.Store(true) // try again next time
			return err
		}
		if !more {
			return nil
		}
	}
}

// indexMessages indexes the next batch of unindexed messages in one statement
// (one FTS5 flush for the lot) and reports whether more remain.
func (s *Store) indexMessages(ctx context.Context) (bool, error) {
	more := false
	err := s.writeRaw(ctx, func(w *wtx) error {
		var from int64
		if err := w.QueryRowContext(ctx, `SELECT messages_indexed_through FROM search_state WHERE id = 1`).Scan(&from); err != nil {
			return mapErr("read search state", err)
		}
		var through sql.NullInt64
		var n int
		if err := w.QueryRowContext(ctx, `SELECT max(pk), count(*) FROM (SELECT pk FROM messages WHERE pk > ? ORDER BY pk LIMIT ?)`,
			from, indexBatch).Scan(&through, &n); err != nil {
			return mapErr("find unindexed messages", err)
		}
		if !through.Valid {
			return nil
		}
		if _, err := w.ExecContext(ctx, `INSERT OR REPLACE INTO messages_search (rowid, body)
SELECT pk, content || ' ' || coalesce(extracted_text, '') FROM messages WHERE pk > ? AND pk <= ?`, from, through.Int64); err != nil {
			return fmt.Errorf("store: index messages: %w", err)
		}
		if _, err := w.ExecContext(ctx, `UPDATE search_state SET messages_indexed_through = ? WHERE id = 1`, through.Int64); err != nil {
			return mapErr("save search state", err)
		}
		more = n == indexBatch
		return nil
	})
	return more, err
}
