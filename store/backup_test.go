package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestBackupDuringWrites: a backup taken while writes go on is a database
// that opens on its own and holds every message acknowledged before the
// backup started; the writes were never stopped for it; and a server on the
// restored file continues the event ids where the copy ends.
func TestBackupDuringWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := storetest.Open(t, filepath.Join(dir, "parley.db"))
	ten, _ := storetest.Tenant(t, st, "acme")
	add := func(i int64) (string, error) {
		s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: fmt.Sprintf("lead-%d", i%200), CreateLead: true,
			Role: store.RoleUser, Content: fmt.Sprintf("message %d", i), Status: store.MsgDelivered})
		return s.Message.ID, err
	}
	var seq atomic.Int64
	for range 2000 { // enough data that the copy takes a while
		if _, err := add(seq.Add(1)); err != nil {
			t.Fatal(err)
		}
	}

	// Sustained writes from four goroutines, each acknowledged write noted
	// with the time it was answered.
	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, err := add(seq.Add(1))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{id, time.Now()})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	started := time.Now()
	info, err := store.Backup(ctx, filepath.Join(dir, "parley.db"), filepath.Join(dir, "backup.db"))
	finished := time.Now()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if info.File != filepath.Join(dir, "backup.db") || info.Bytes <= 0 || info.Seconds <= 0 {
		t.Fatalf("backup info = %+v", info)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".backup.db.partial-*")); len(entries) > 0 {
		t.Errorf("partial files left behind: %v", entries)
	}

	// Writes went on while the copy read: some were answered inside its
	// window, and the longest gap between answers there is what a write
	// waited (logged; BENCHMARKS.md measures it under load).
	var during int
	var longest time.Duration
	last := started
	for _, a := range acks {
		if a.at.After(started) && a.at.Before(finished) {
			during++
			longest = max(longest, a.at.Sub(last))
			last = a.at
		}
	}
	if during == 0 {
		t.Fatalf("no write was answered during the %v backup: it stopped the writes", finished.Sub(started))
	}
	t.Logf("backup of %d bytes took %v; %d writes answered meanwhile, longest gap %v", info.Bytes,
		finished.Sub(started).Round(time.Millisecond), during, longest.Round(time.Millisecond))

	bounds, err := ten.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restore: the file alone, no -wal or -shm beside it.
	restoredPath := filepath.Join(t.TempDir(), "restored.db")
	b, err := os.ReadFile(info.File)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(restoredPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := storetest.Open(t, restoredPath)
	rten := restored.Tenant(ten.ID())
	for _, a := range acks {
		if a.at.Before(started) {
			if _, err := rten.Message(ctx, a.id); err != nil {
				t.Fatalf("message %s acknowledged before the backup started is not in it: %v", a.id, err)
			}
		}
	}
	rb, err := rten.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Last <= 0 || rb.Last > bounds.Last {
		t.Fatalf("restored event ids end at %d; the live database's at %d", rb.Last, bounds.Last)
	}
	if _, err := rten.AddMessage(ctx, store.MessageInput{LeadID: "after-restore", CreateLead: true, Role: store.RoleUser,
		Content: "hello again", Status: store.MsgDelivered}); err != nil {
		t.Fatal(err)
	}
	evs, err := rten.EventsAfter(ctx, rb.Last, rb.Last+100, store.EventFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Seq != rb.Last+1 {
		t.Fatalf("after restore the next event id is %v, want %d", evs, rb.Last+1)
	}
}

// TestBackupRefusesToOverwrite: an existing file is never replaced, and a
// missing database is an error, not an empty copy.
func TestBackupRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storetest.Open(t, filepath.Join(dir, "parley.db"))
	existing := filepath.Join(dir, "taken.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Backup(ctx, filepath.Join(dir, "parley.db"), existing); err == nil {
		t.Fatal("backup over an existing file succeeded")
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatalf("the existing file was changed to %q", b)
	}
	if _, err := store.Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("backup of a missing database succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Fatal("backup created the missing database")
	}
}
