package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCheckpointer: commits leave the copying to the background loop, which
// runs after them; a checkpoint copies the whole WAL when no reader holds
// it, and the writer then starts the WAL over instead of growing it.
func TestCheckpointer(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	ten := tenantForTest(t, s)
	addMessages := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("lead-%d", i), CreateLead: true,
				Role: RoleUser, Content: "oi", Status: MsgDelivered}); err != nil {
				t.Fatal(err)
			}
		}
	}
	addMessages(200)
	deadline := time.Now().Add(10 * time.Second)
	for s.checkpoints.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer did not run within 10 s of 200 commits")
		}
		time.Sleep(10 * time.Millisecond)
	}

	addMessages(200)
	st, err := s.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Busy || st.Log == 0 || st.Copied != st.Log {
		t.Fatalf("checkpoint with no reader: %+v, want the whole non-empty WAL copied", st)
	}
	// The next commit starts the WAL over unless a reader (the store's own
	// indexer, or the background checkpointer) holds a snapshot at that
	// instant; on a loaded machine that happens, so a few tries are allowed.
	var after checkpointStats
	for try := 0; try < 20; try++ {
		addMessages(1)
		if after, err = s.checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if after.Log < st.Log {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after a full checkpoint, 20 more commits left a WAL of %d pages (was %d): it was never started over", after.Log, st.Log)
}

// TestCheckpointLeavesReadersAlone: a checkpoint never waits for a reader
// that holds an older snapshot (it would hold up the writer); it copies what
// it can and the rest once the reader is gone.
func TestCheckpointLeavesReadersAlone(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	ten := tenantForTest(t, s)
	add := func() {
		t.Helper()
		if _, err := ten.AddMessage(ctx, MessageInput{LeadID: "lead", CreateLead: true, Role: RoleUser, Content: "oi",
			Status: MsgDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	add()
	reader, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil { // takes its snapshot
		t.Fatal(err)
	}
	for range 50 {
		add()
	}
	st, err := s.checkpoint(ctx) // a waiting one would sit out the busy timeout here
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied >= st.Log {
		t.Fatalf("checkpoint under an old snapshot: %+v, want some pages left for later", st)
	}
	reader.Rollback()
	if st, err = s.checkpoint(ctx); err != nil || st.Copied != st.Log {
		t.Fatalf("checkpoint after the reader left: %+v, %v; want the whole WAL copied", st, err)
	}
}
