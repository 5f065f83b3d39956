package store

import (
	"context"
	"time"
)

// Every indexing batch leaves a new segment in an FTS5 index, and FTS5 merges
// them only four to a level as it goes, so a lookup walks each term's
// doclist in a dozen segments or more. On the 1M-message benchmark database
// merging them (idle, two to a level: usermerge=2, schema version 7) made a
// name search's index lookup 1.4x faster and a message-text lookup 1.5x
// faster. The merges run only when the server has been quiet for tidyDelay,
// in steps of tidyStep pages that stop as soon as a write is waiting, so a
// busy server never pays for them and a write waits at most one step.
const (
	tidyDelay = time.Second
	tidyStep  = 16 // pages merged per transaction: about 2 ms
)

var searchIndexes = []string{"messages_search", "conversation_search"}

// tidySearch merges the search indexes' segments, a step at a time, until
// there is nothing left to merge or a write is waiting; it reports whether
// it finished.
func (s *Store) tidySearch(ctx context.Context) bool {
	if !s.searchUntidy.Swap(false) {
		return true
	}
	done, err := s.mergeSearch(ctx, func() bool { return len(s.writes) > 0 })
	if !done || err != nil {
		s.searchUntidy.Store(true)
		return false
	}
	return true
}

// TidySearch indexes what waits for the search index and merges the
// indexes' segments now, however busy the server is: for a bulk import (the
// benchmark's seeded database) that is searched right after.
// On PostgreSQL it does nothing: there are no segments to merge (GIN
// indexes keep themselves, VACUUM flushes their pending lists).
func (s *Store) TidySearch(ctx context.Context) error {
	if s.eng == enginePostgres {
		return nil
	}
	if err := s.catchUpSearch(ctx); err != nil {
		return err
	}
	_, err := s.mergeSearch(ctx, func() bool { return false })
	return err
}

// mergeSearch merges until there is nothing left to merge (done) or stop
// says to leave off.
func (s *Store) mergeSearch(ctx context.Context, stop func() bool) (done bool, err error) {
	for _, index := range searchIndexes {
		for {
			if stop() || ctx.Err() != nil {
				return false, ctx.Err()
			}
			merged, err := s.mergeStep(ctx, index)
			if err != nil {
				return false, err
			}
			if !merged {
				break
			}
		}
	}
	return true, nil
}

// mergeStep runs one FTS5 'merge' command on index and reports whether it
// merged anything (FTS5 documents a change of two or more in total_changes
// as the sign that it did).
func (s *Store) mergeStep(ctx context.Context, index string) (bool, error) {
	merged := false
	err := s.writeRaw(ctx, func(w *wtx) error {
		var before, after int64
		if err := w.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
			return mapErr("count changes", err)
		}
		if _, err := w.ExecContext(ctx, `INSERT INTO `+index+` (`+index+`, rank) VALUES ('merge', ?)`, tidyStep); err != nil {
			return mapErr("merge "+index, err)
		}
		if err := w.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
			return mapErr("count changes", err)
		}
		merged = after-before >= 2
		return nil
	})
	return merged, err
}
