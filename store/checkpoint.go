package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Checkpoints. SQLite's default copies the WAL back into the database file
// from inside the commit that pushes the WAL past 1,000 pages: that commit
// then pays for copying every page and two fsyncs, and with a single writer
// every write queued behind it waits too (a sixth of the writer's time under
// load). So the writer connection runs with wal_autocheckpoint off and this
// loop checkpoints on a connection of its own while the writer goes on
// committing. Like SQLite's automatic ones, its checkpoints are PASSIVE: they
// copy what no reader still holds and never wait, so they never block the
// writer (a RESTART or TRUNCATE checkpoint would bound the WAL even under
// readers that never let go, but it holds the write lock while it copies
// everything: a long stall for every queued write). The writer starts the
// WAL over once a checkpoint has copied all of it.

// checkpointEvery is how often the loop checkpoints at most, and only after
// commits.
const checkpointEvery = 250 * time.Millisecond

// kickCheckpoint tells the checkpointer that a commit added to the WAL.
func (s *Store) kickCheckpoint() {
	select {
	case s.ckKick <- struct{}{}:
	default:
	}
}

// checkpointer is the background loop.
func (s *Store) checkpointer() {
	defer close(s.ckStopped)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.ckKick:
		}
		t.Reset(checkpointEvery) // let commits accumulate
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if _, err := s.checkpoint(context.Background()); err == nil {
			s.checkpoints.Add(1)
		}
	}
}

// checkpointStats is what one checkpoint did, in WAL pages.
type checkpointStats struct {
	Busy        bool
	Log, Copied int
}

// checkpoint copies the WAL into the database file as far as readers allow.
func (s *Store) checkpoint(ctx context.Context) (checkpointStats, error) {
	return runCheckpoint(ctx, s.ck, "PASSIVE")
}

func runCheckpoint(ctx context.Context, db *sql.DB, mode string) (checkpointStats, error) {
	var st checkpointStats
	var busy int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &st.Log, &st.Copied); err != nil {
		return st, fmt.Errorf("store: checkpoint: %w", err)
	}
	st.Busy = busy != 0
	return st, nil
}
