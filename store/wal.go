package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Sync says when a commit reaches the disk.
type Sync int

const (
	// SyncFull (the zero value) syncs the WAL after every group commit,
	// before any write of the group is answered: an acknowledged write
	// survives a power cut or a kernel crash. Groups committed while a sync
	// is in flight share the next one, so its cost is spread over them.
	SyncFull Sync = iota
	// SyncNormal leaves syncing to checkpoints (SQLite's synchronous=NORMAL):
	// faster on a slow disk (here 1 % on sends, 11-15 % on AI turns), but a
	// power cut loses the commits since the last checkpoint. A killed
	// process loses nothing either way.
	SyncNormal
)

// Why the store syncs the WAL itself. SQLite's synchronous=FULL does the same
// thing (one sync of the WAL inside each COMMIT); the writer instead runs at
// NORMAL, which keeps every checkpoint sync (the WAL before copying, the
// database after, the WAL header when the log starts over), and the store
// adds the commit's sync after COMMIT, before it answers anybody. The
// durability is the same, and two things are gained. The store can count and
// test it (2,000 sends ran with 24 syncs under NORMAL, and nothing in SQLite
// reports how many a write cost). And the sync leaves the writer free: a
// goroutine of its own (syncer, writer.go) syncs while the writer commits the
// next group, and one sync answers every group committed before it. Under a
// mixed load the disk took 100–200 ms for some syncs while the background
// checkpoint flushed the database file; inside COMMIT each of those stalled
// every write.

// walFile is the WAL seen from outside SQLite: its size, its syncs, and how
// the checkpoints that keep it small went.
type walFile struct {
	path string

	mu sync.Mutex // guards f
	f  *os.File   // opened lazily: SQLite creates the file

	syncs                   atomic.Int64
	complete, partial, busy atomic.Int64
	truncations             atomic.Int64
	copied                  atomic.Int64 // frames of the log the background's last checkpoint had copied
	pauses                  pauseWindow
}

// file returns the open WAL file, opening it if needed.
func (w *walFile) file() (*os.File, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		// Read-write: some systems refuse to sync a file opened read-only.
		f, err := os.OpenFile(w.path, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		w.f = f
	}
	return w.f, nil
}

// size is the WAL file's size in bytes (0 when it does not exist yet).
func (w *walFile) size() int64 {
	f, err := w.file()
	if err != nil {
		return 0
	}
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// sync makes every commit so far durable.
func (w *walFile) sync() error {
	f, err := w.file()
	if err != nil {
		return fmt.Errorf("store: sync WAL: %w", err)
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("store: sync WAL: %w", err)
	}
	w.syncs.Add(1)
	return nil
}

func (w *walFile) count(st checkpointStats) {
	switch st.outcome() {
	case "busy":
		w.busy.Add(1)
	case "partial":
		w.partial.Add(1)
	default:
		w.complete.Add(1)
	}
}

func (w *walFile) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// pauseWindow keeps the longest pause of each of the last 60 seconds.
type pauseWindow struct {
	mu  sync.Mutex
	sec [60]int64
	max [60]time.Duration
}

func (p *pauseWindow) observe(at time.Time, d time.Duration) {
	sec := at.Unix()
	i := sec % 60
	p.mu.Lock()
	if p.sec[i] != sec {
		p.sec[i], p.max[i] = sec, 0
	}
	p.max[i] = max(p.max[i], d)
	p.mu.Unlock()
}

// longest is the longest pause of the last minute.
func (p *pauseWindow) longest(now time.Time) time.Duration {
	var m time.Duration
	p.mu.Lock()
	for i, sec := range p.sec {
		if now.Unix()-sec < 60 {
			m = max(m, p.max[i])
		}
	}
	p.mu.Unlock()
	return m
}

// WALStats is what /metrics reports about the WAL.
type WALStats struct {
	Bytes int64 // size of the WAL file
	// Checkpoints by outcome: the whole WAL copied, part of it (readers on
	// older snapshots kept the rest), or none (busy).
	Complete, Partial, Busy int64
	Truncations             int64         // times the writer started the WAL over
	Syncs                   int64         // fsyncs of the WAL after group commits
	LongestPause            time.Duration // longest the writer was held by one commit or checkpoint, last minute
}

// WALStats reads the WAL's figures; it never touches the database.
func (s *Store) WALStats() WALStats {
	w := &s.wal
	return WALStats{Bytes: w.size(), Complete: w.complete.Load(), Partial: w.partial.Load(), Busy: w.busy.Load(),
		Truncations: w.truncations.Load(), Syncs: w.syncs.Load(), LongestPause: w.pauses.longest(time.Now())}
}

// FileStats is the database file's use of its pages.
type FileStats struct {
	Bytes         int64 // page_count × page_size
	FreelistPages int64 // pages freed by deletes and not yet reused
	PageSize      int64
}

// FileStats reads the database file's size and its free pages.
func (s *Store) FileStats(ctx context.Context) (FileStats, error) {
	var f FileStats
	var pages int64
	err := s.r.QueryRowContext(ctx, `SELECT p.page_count, f.freelist_count, s.page_size
FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s`).Scan(&pages, &f.FreelistPages, &f.PageSize)
	if err != nil {
		return f, fmt.Errorf("store: file stats: %w", err)
	}
	f.Bytes = pages * f.PageSize
	return f, nil
}
