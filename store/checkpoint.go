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
// loop checkpoints on a connection of its own: a PASSIVE checkpoint copies
// what no reader still needs while the writer goes on committing, and the
// writer starts the WAL over once a checkpoint has copied all of it.
const (
	checkpointEvery = 250 * time.Millisecond // at most this often, and only after commits
	// walRestartFrames is the WAL size (pages) past which a checkpoint waits
	// for readers (RESTART) instead of leaving what they hold: the bound on
	// how far the WAL grows when readers never let a passive one finish.
	walRestartFrames = 16000
)

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
	Restarted   bool
}

// checkpoint copies the WAL into the database file as far as readers allow,
// and all of it (waiting for them) once the WAL has grown past
// walRestartFrames.
func (s *Store) checkpoint(ctx context.Context) (checkpointStats, error) {
	st, err := runCheckpoint(ctx, s.ck, "PASSIVE")
	if err == nil && st.Log > walRestartFrames && st.Copied < st.Log {
		st, err = runCheckpoint(ctx, s.ck, "RESTART")
		st.Restarted = err == nil
	}
	return st, err
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
