package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWALStaysBounded proves the WAL bound without minutes of load: writes
// that never pause, readers that never stop, and one reader that holds an
// old snapshot for a while. While it holds it the WAL may grow (nothing past
// its snapshot can be copied); once it lets go the WAL comes back under the
// limit and stays there, however many writes follow.
func TestWALStaysBounded(t *testing.T) {
	ctx := context.Background()
	const limit = 256 << 10
	s := openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), Options{WALMax: limit})
	ten := tenantForTest(t, s)

	// Continuous readers, as a busy server has.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err == nil {
					reads.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	defer func() { close(stop); readers.Wait() }()

	// Writers from several goroutines, so that commits are grouped as on a
	// server; add runs n writes and returns the WAL's largest size seen
	// after any of them.
	var seq atomic.Int64
	add := func(n int) int64 {
		t.Helper()
		var largest atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / 8 {
					i := seq.Add(1)
					if _, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("lead-%d", i%50), CreateLead: true,
						Role: RoleUser, Content: fmt.Sprintf("message %d with some text to index", i), Status: MsgDelivered}); err != nil {
						errs <- err
						return
					}
					for size := s.wal.size(); size > largest.Load(); {
						if largest.CompareAndSwap(largest.Load(), size) {
							break
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return largest.Load()
	}

	// Warm up, then pin a snapshot and write on.
	add(400)
	pin, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pin.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	pinned := add(1200)
	pin.Rollback()
	if pinned <= limit {
		t.Logf("the WAL stayed at %d bytes under a pinned snapshot (limit %d)", pinned, limit)
	}

	// Released: the background copies the backlog, then the writer starts
	// the WAL over, and the thousands of commits that follow never take it far
	// past the limit. "Far" is one checkpoint's worth: what commits between
	// two of the writer's looks at the size, plus what readers hold back
	// for a moment.
	deadline := time.Now().Add(20 * time.Second)
	for s.wal.size() > limit {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes 20 s after the reader let go, under writes (limit %d)", s.wal.size(), limit)
		}
		add(80)
	}
	after := add(3000)
	const slack = 4 * limit
	if after > limit+slack {
		t.Fatalf("WAL reached %d bytes after the reader let go (limit %d + %d): it is not bounded; %+v", after, limit, slack, s.WALStats())
	}
	if reads.Load() == 0 {
		t.Fatal("the readers never read: the test proved nothing about them")
	}
	ws := s.WALStats()
	if ws.Truncations == 0 {
		t.Fatalf("the writer never emptied the WAL: %+v", ws)
	}
	t.Logf("WAL: largest %d bytes pinned, %d after (limit %d); %+v; %d reads", pinned, after, limit, ws, reads.Load())

	// Idle: the writer empties the WAL by itself.
	deadline = time.Now().Add(10 * time.Second)
	for s.wal.size() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL still holds %d bytes 10 s after the last write", s.wal.size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSyncPerGroupCommit pins durability: with SyncFull every acknowledged
// write was synced to disk before its answer (one sync per group commit, so
// lone writes cost one sync each and concurrent ones share), and with
// SyncNormal the writes sync nothing (checkpoints do).
func TestSyncPerGroupCommit(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		sync Sync
	}{{"full", SyncFull}, {"normal", SyncNormal}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), Options{Sync: tc.sync})
			ten := tenantForTest(t, s)
			add := func(i int) error {
				_, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("lead-%d", i), CreateLead: true,
					Role: RoleUser, Content: "oi", Status: MsgDelivered})
				return err
			}

			// One at a time: each acknowledged write found its own sync done.
			for i := range 50 {
				before := s.wal.syncs.Load()
				if err := add(i); err != nil {
					t.Fatal(err)
				}
				got := s.wal.syncs.Load() - before
				if want := map[Sync]int64{SyncFull: 1, SyncNormal: 0}[tc.sync]; got != want {
					t.Fatalf("write %d was answered after %d syncs, want %d", i, got, want)
				}
			}

			// Concurrent writes share groups, and so their syncs.
			before := s.wal.syncs.Load()
			var wg sync.WaitGroup
			for i := range 256 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := add(1000 + i); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			got := s.wal.syncs.Load() - before
			switch {
			case tc.sync == SyncNormal && got != 0:
				t.Fatalf("SyncNormal synced %d times", got)
			case tc.sync == SyncFull && (got < 1 || got > 256):
				t.Fatalf("256 concurrent writes made %d syncs, want 1..256", got)
			}
			t.Logf("%s: 256 concurrent writes, %d syncs", tc.name, got)
		})
	}
}
