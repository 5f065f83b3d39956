package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Checkpoints, and why the WAL stays bounded under writes that never stop.
//
// SQLite's default copies the WAL back into the database file from inside
// the commit that pushes the WAL past 1,000 pages: that commit pays for
// copying every page, and with a single writer every write queued behind it
// waits too (a sixth of the writer's time under load). So the copying is done
// in two places instead:
//
//   - A background loop (checkpointer) runs PASSIVE checkpoints on a
//     connection of its own while the writer goes on committing. They copy
//     what no reader still holds, never wait and never block the writer.
//     They do the bulk of the copying, off the commit path.
//   - The WAL only starts over when a write begins with every frame copied
//     and no reader on it. Under continuous writes that moment never comes
//     (the writer appends while the background copies), and the WAL grew
//     by 22 KB per message without end: 4.5 GB after 200k sends. So once the
//     WAL file passes walMax, the writer goroutine itself, between two group
//     commits, runs a RESTART checkpoint: nothing is appended meanwhile,
//     the background has already copied most frames (the writer waits
//     until a background pass leaves at most tailMax behind), so it copies
//     the few left and waits briefly (truncateWait) for readers on older
//     snapshots; its next commit starts the log over and trims the file to
//     walMax.
//     That pause is the price of the bound; it is measured (pauses) and
//     shows in parley_sqlite_write_pause_max_seconds.
//
// A reader that holds an old snapshot for long (a backup, a slow replay)
// makes the writer's checkpoint give up after truncateWait; the writer then
// backs off (truncateBackoff, doubling) so that it does not pay the wait at
// every commit, and the WAL grows past walMax only by the writes of that
// time. When writes stop, the writer empties the WAL (TRUNCATE) after
// idleTruncate, so an idle server's WAL file is empty.

const (
	// checkpointEvery is how often the background loop checkpoints at most,
	// and only after commits.
	checkpointEvery = 100 * time.Millisecond
	// truncateWait is how long the writer's checkpoint waits for readers on
	// an older snapshot (SQLite's busy timeout while it runs): a read query
	// takes a few ms, and the whole pause must stay well under 100 ms.
	truncateWait = 20 * time.Millisecond
	// truncateBackoff is the first wait after a writer's checkpoint that
	// readers kept from finishing; it doubles up to truncateBackoffMax.
	truncateBackoff    = 50 * time.Millisecond
	truncateBackoffMax = time.Second
	// idleTruncate is how long the writer must have been idle before it
	// empties a non-empty WAL.
	idleTruncate = time.Second
	// busyTimeout is every connection's busy timeout otherwise.
	busyTimeout = 10 * time.Second
)

// pageBytes is the size of a WAL frame, near enough: SQLite's default page
// (the store never changes it) plus the frame header.
const pageBytes = 4096 + 24

// tailMax is how much of the WAL may be left uncopied when the writer
// restarts it: the writer copies that much itself, and syncs the database
// file after it, while writes wait. An eighth of the limit (8 MB by default).
func (s *Store) tailMax() int64 { return max(s.walMax/8, 1<<20) }

// DefaultWALMax is PARLEY_WAL_MAX_MB's default, 64 MB: a minute of the
// heaviest writes fills it many times over, so it bounds disk use, not speed.
const DefaultWALMax = 64 << 20

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
		if s.wal.size() <= s.walMax { // else copy at once: the writer waits for it
			t.Reset(checkpointEvery) // let commits accumulate
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
		}
		if s.ckWanted.Load() || !s.ckMu.TryLock() { // the writer checkpoints: it copies everything
			continue
		}
		st, err := s.checkpoint(context.Background())
		s.ckMu.Unlock()
		if err == nil {
			s.wal.count(st)
			s.wal.copied.Store(int64(st.Copied))
			s.checkpoints.Add(1)
		}
	}
}

// checkpointStats is what one checkpoint did, in WAL pages.
type checkpointStats struct {
	Busy        bool
	Log, Copied int
}

// outcome names a checkpoint's result for metrics: complete (the whole WAL
// copied), partial (readers kept some of it) or busy (it could not run).
func (c checkpointStats) outcome() string {
	switch {
	case c.Busy && c.Copied <= 0:
		return "busy"
	case c.Copied < c.Log:
		return "partial"
	default:
		return "complete"
	}
}

// checkpoint copies the WAL into the database file as far as readers allow.
func (s *Store) checkpoint(ctx context.Context) (checkpointStats, error) {
	return runCheckpoint(ctx, s.ck, "PASSIVE")
}

func runCheckpoint(ctx context.Context, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, mode string) (checkpointStats, error) {
	var st checkpointStats
	var busy int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &st.Log, &st.Copied); err != nil {
		return st, fmt.Errorf("store: checkpoint: %w", err)
	}
	st.Busy = busy != 0
	return st, nil
}

// boundWAL runs on the writer goroutine between group commits: when the WAL
// has grown past walMax and the background has copied nearly all of it, it
// copies the rest and starts the log over (see above).
func (s *Store) boundWAL() {
	size := s.wal.size()
	if size <= s.walMax {
		s.restarted = false
		return
	}
	if time.Now().Before(s.truncateAfter) {
		return
	}
	if uncopied := size/pageBytes - s.wal.copied.Load(); uncopied*pageBytes > s.tailMax() {
		// Much of the WAL is not copied yet (the background is behind, or
		// a reader held an old snapshot): copying it here, and syncing the
		// database file after it, would stall every write for that long.
		// The background copies it off the commit path first, back to back
		// while the WAL is over the limit.
		s.kickCheckpoint()
		return
	}
	if s.restarted {
		// The commit after a RESTART starts the log over only if no reader
		// is on the WAL at that instant; with readers always busy that
		// may not come. TRUNCATE resets the log itself.
		s.restartWAL("TRUNCATE")
		return
	}
	s.restartWAL("RESTART")
}

// emptyWAL empties the WAL file of an idle server.
func (s *Store) emptyWAL() { s.restartWAL("TRUNCATE") }

// restartWAL runs a RESTART or TRUNCATE checkpoint on the writer connection
// and records the pause it made. It must run on the writer goroutine. Both
// copy what is left and wait for readers to leave the WAL, so that the next
// write starts it over; TRUNCATE also empties the file. Under load RESTART
// is the one: the next commit trims the file to walMax (journal_size_limit)
// and the log is then rewritten in place, so the file keeps its size and a
// sync of it need not wait for the file system's journal (datasync).
func (s *Store) restartWAL(mode string) {
	if !s.ckMu.TryLock() {
		// The background pass holds SQLite's checkpoint lock; waiting for it
		// would stall the writer. It is copying anyway: try after the next
		// group, and let the background stand aside for us then.
		s.ckWanted.Store(true)
		return
	}
	defer s.ckMu.Unlock()
	s.ckWanted.Store(false)
	start := time.Now()
	st, err := s.writerCheckpoint(mode)
	pause := time.Since(start)
	s.wal.pauses.observe(start, pause)
	if s.checkpointPause != nil {
		s.checkpointPause(pause)
	}
	if err != nil {
		s.truncateAfter = time.Now().Add(truncateBackoffMax)
		return
	}
	s.wal.count(st)
	if st.Busy || st.Copied < st.Log {
		s.truncateDelay = min(max(2*s.truncateDelay, truncateBackoff), truncateBackoffMax)
		s.truncateAfter = time.Now().Add(s.truncateDelay)
		return
	}
	s.wal.truncations.Add(1)
	s.wal.copied.Store(0)
	s.restarted = mode == "RESTART"
	s.truncateDelay, s.truncateAfter = 0, time.Time{}
}

// writerCheckpoint is PRAGMA wal_checkpoint(mode) on the writer connection,
// with a busy timeout of truncateWait instead of the connection's usual one.
func (s *Store) writerCheckpoint(mode string) (checkpointStats, error) {
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", truncateWait.Milliseconds())); err != nil {
		return checkpointStats{}, fmt.Errorf("store: checkpoint: %w", err)
	}
	st, err := runCheckpoint(ctx, s.w, mode)
	if _, rerr := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())); err == nil && rerr != nil {
		err = fmt.Errorf("store: checkpoint: %w", rerr)
	}
	return st, err
}
