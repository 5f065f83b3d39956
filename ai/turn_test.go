package ai_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// turnClock is a settable clock for the store.
type turnClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *turnClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *turnClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// turnCounter answers every request and counts the calls.
type turnCounter struct {
	mu    sync.Mutex
	calls int
}

func (p *turnCounter) Complete(_ context.Context, req ai.Request) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return "ok: " + req.UserText, nil
}

func (p *turnCounter) Stream(ctx context.Context, req ai.Request, onToken func(string) error) (string, error) {
	return p.Complete(ctx, req)
}

func (p *turnCounter) Transcribe(context.Context, ai.Audio) (string, error) {
	return "", ai.ErrNoTranscription
}

func (p *turnCounter) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func turnSetup(t *testing.T) (*turnClock, *store.Store, *store.Tenant) {
	t.Helper()
	clock := &turnClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"), storetest.Schema(t), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	info, _, err := st.CreateTenant(context.Background(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	return clock, st, st.Tenant(info.ID)
}

// TestProcessKeyLivesOneDay: a key replays its first answer for 24 hours;
// after that the same key is a new request (the expired record is replaced).
func TestProcessKeyLivesOneDay(t *testing.T) {
	ctx := context.Background()
	clock, st, ten := turnSetup(t)
	p := &turnCounter{}
	pl := ai.NewPipeline(st, p, nil, nil, ai.PipelineConfig{})
	in := ai.Inbound{LeadID: "lead-1", Role: store.RoleUser, Content: "hi", MessageType: "text", ExternalID: "wamid.1"}

	first, err := pl.Process(ctx, ten, in)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(23 * time.Hour)
	again, err := pl.Process(ctx, ten, in)
	if err != nil {
		t.Fatal(err)
	}
	if again.MessageID != first.MessageID || *again.Response != *first.Response || p.Calls() != 1 {
		t.Fatalf("within 24h: %+v (calls %d), want the first answer %+v", again, p.Calls(), first)
	}

	clock.Advance(2 * time.Hour)
	later, err := pl.Process(ctx, ten, in)
	if err != nil {
		t.Fatal(err)
	}
	if later.MessageID == first.MessageID || p.Calls() != 2 {
		t.Fatalf("after 24h: %+v (calls %d), want a new message and answer", later, p.Calls())
	}
	replay, err := pl.Process(ctx, ten, in)
	if err != nil || replay.MessageID != later.MessageID || p.Calls() != 2 {
		t.Fatalf("the renewed key replays %+v (calls %d, %v), want message %s", replay, p.Calls(), err, later.MessageID)
	}
	page, err := ten.LeadMessages(ctx, "lead-1", 50, nil, nil)
	if err != nil || len(page.Messages) != 4 {
		t.Fatalf("lead has %d messages (%v), want two turns", len(page.Messages), err)
	}
}

// TestStoreRefusesLiveKeyTwice: the store itself refuses a second message
// with a live key (the backstop behind the pipeline's in-process
// deduplication) and stores nothing for it; an expired key is reusable.
func TestStoreRefusesLiveKeyTwice(t *testing.T) {
	ctx := context.Background()
	clock, _, ten := turnSetup(t)
	in := store.MessageInput{LeadID: "lead-2", CreateLead: true, Role: store.RoleUser, Content: "hi", MessageType: "text",
		Status: store.MsgDelivered}
	keyed := func() (store.Stored, error) {
		var st store.Stored
		err := ten.Write(ctx, in.About(), func(tx *store.Tx) error {
			var err error
			if st, err = tx.AddMessage(in); err != nil {
				return err
			}
			return tx.RememberKey("ext:dup", st.Message.ID)
		})
		return st, err
	}
	first, err := keyed()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyed(); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second message with a live key: err = %v, want ErrConflict", err)
	}
	rec, found, err := ten.Idempotent(ctx, "ext:dup")
	if err != nil || !found || rec.MessageID != first.Message.ID {
		t.Fatalf("key record = %+v, %v, %v; want it to keep the first message", rec, found, err)
	}
	page, _ := ten.LeadMessages(ctx, "lead-2", 50, nil, nil)
	if len(page.Messages) != 1 {
		t.Fatalf("lead has %d messages, want 1", len(page.Messages))
	}

	clock.Advance(store.IdempotencyTTL + time.Minute)
	second, err := keyed()
	if err != nil {
		t.Fatalf("expired key: %v", err)
	}
	if rec, _, _ := ten.Idempotent(ctx, "ext:dup"); rec.MessageID != second.Message.ID || rec.StatusCode != 0 {
		t.Errorf("renewed record = %+v, want message %s unfinished", rec, second.Message.ID)
	}
}
