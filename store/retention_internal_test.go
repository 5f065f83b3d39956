package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clockForTest is a settable clock for Options.Now.
type clockForTest struct{ ms atomic.Int64 }

func (c *clockForTest) now() time.Time  { return time.UnixMilli(c.ms.Add(1)) }
func (c *clockForTest) set(t time.Time) { c.ms.Store(t.UnixMilli()) }
func newClockForTest(t time.Time) *clockForTest {
	c := &clockForTest{}
	c.set(t)
	return c
}

// TestPruneEventsInBatches: more old events than one batch are all deleted,
// newer ones stay, and the tenant's pruned-through mark is the newest id
// removed, so that a late reader is told it missed them.
func TestPruneEventsInBatches(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := newClockForTest(t0)
	s := openWithOptionsForTest(t, Options{Now: clock.now})
	ten := tenantForTest(t, s)
	old := pruneBatch * 3 / 4 // each message makes two events or more
	for i := range old {
		if _, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("lead-%d", i), CreateLead: true, Role: RoleUser,
			Content: "old", Status: MsgDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	oldBounds, err := ten.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if oldBounds.Last <= pruneBatch {
		t.Fatalf("only %d old events: the test needs more than one batch", oldBounds.Last)
	}
	clock.set(t0.Add(2 * time.Hour))
	for i := range 10 {
		if _, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("new-%d", i), CreateLead: true, Role: RoleUser,
			Content: "new", Status: MsgDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneEvents(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ten.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != oldBounds.Last || b.PrunedThrough != oldBounds.Last || b.Oldest != oldBounds.Last+1 {
		t.Fatalf("pruned %d events, bounds %+v; want %d pruned through %d, oldest %d", n, b, oldBounds.Last,
			oldBounds.Last, oldBounds.Last+1)
	}
}

// TestPruneDeliveries: delivered deliveries older than the cutoff go; failed
// and pending ones and newer delivered ones stay.
func TestPruneDeliveries(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := newClockForTest(t0)
	s := openWithOptionsForTest(t, Options{Now: clock.now})
	ten := tenantForTest(t, s)
	enqueue := func(n int) []string {
		t.Helper()
		var ids []string
		err := s.write(ctx, ten.ID(), func(w *wtx) error {
			for i := range n {
				id, err := w.enqueue(ctx, "postback", "", "https://gw.example/hook", "ai.response", conversationKey(NewID()), map[string]int{"i": i})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	record := func(ids []string, status string) {
		t.Helper()
		for _, id := range ids {
			if err := s.RecordAttempt(ctx, ten.ID(), id, Attempt{StatusCode: 200, Status: status, Next: clock.now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	oldDelivered := enqueue(pruneBatch + 200) // more than one batch
	record(oldDelivered, DeliveryDelivered)
	oldFailed := enqueue(3)
	record(oldFailed, DeliveryFailed)
	oldPending := enqueue(2)
	clock.set(t0.Add(48 * time.Hour))
	newDelivered := enqueue(5)
	record(newDelivered, DeliveryDelivered)

	n, err := s.PruneDeliveries(ctx, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(oldDelivered)) {
		t.Fatalf("pruned %d deliveries, want %d", n, len(oldDelivered))
	}
	for _, id := range oldDelivered[:3] {
		if _, err := ten.Delivery(ctx, id); err == nil {
			t.Errorf("old delivered %s is still listed", id)
		}
	}
	for _, group := range [][]string{oldFailed, oldPending, newDelivered} {
		for _, id := range group {
			if _, err := ten.Delivery(ctx, id); err != nil {
				t.Errorf("delivery %s was pruned: %v", id, err)
			}
		}
	}
}

// TestFreePagesReturned: after a large delete the free pages are a large
// surplus, and ReturnFreePages hands them back: the file shrinks to about
// its data. A small surplus is left for reuse.
func TestFreePagesReturned(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := newClockForTest(t0)
	s := openAtForTest(t, filepath.Join(t.TempDir(), "p.db"), Options{Now: clock.now})
	ten := tenantForTest(t, s)
	var mode int
	if err := s.r.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("a new database has auto_vacuum = %d (%v), want 2 (incremental)", mode, err)
	}
	big := strings.Repeat("x", 8000)
	for i := range 30 {
		err := s.write(ctx, ten.ID(), func(w *wtx) error {
			for j := range 100 {
				if _, err := w.ExecContext(ctx, `INSERT INTO idempotency (tenant_id, key, message_id, response, created_at)
VALUES (?, ?, '', ?, ?)`, w.tenant, fmt.Sprintf("k-%d-%d", i, j), big, w.now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	full, err := s.FileStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReturnFreePages(ctx); err != nil || n != 0 {
		t.Fatalf("with no free pages ReturnFreePages = %d, %v", n, err)
	}
	clock.set(t0.Add(2 * IdempotencyTTL))
	if n, err := s.PruneIdempotency(ctx); err != nil || n != 3000 {
		t.Fatalf("PruneIdempotency = %d, %v; want 3000", n, err)
	}
	freed, err := s.FileStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if freed.FreelistPages < freeSurplusPages {
		t.Fatalf("after the delete only %d free pages: the test needs a surplus", freed.FreelistPages)
	}
	n, err := s.ReturnFreePages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.FileStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || after.FreelistPages > freeKeepPages || after.Bytes >= full.Bytes/2 {
		t.Fatalf("returned %d pages; file %d -> %d bytes with %d free pages (was %d free)", n, full.Bytes, after.Bytes,
			after.FreelistPages, freed.FreelistPages)
	}
	t.Logf("file %d MB full, %d free pages after the delete; %d returned, file now %d MB", full.Bytes>>20,
		freed.FreelistPages, n, after.Bytes>>20)
}
