package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestEventIDsUnderGroupCommit: concurrent writes share commits, some of
// them fail (which reruns their group one by one), two tenants interleave,
// and the store is reopened; every tenant's ids still run 1..last without a
// gap or a repeat, in the order the sink saw them, and go on after reopening.
func TestEventIDsUnderGroupCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	st := storetest.Open(t, path)
	var mu sync.Mutex
	seen := map[string][]int64{}
	st.OnEvents(func(evs []store.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			seen[ev.TenantID] = append(seen[ev.TenantID], ev.Seq)
		}
	})
	a, _ := storetest.Tenant(t, st, "a")
	b, _ := storetest.Tenant(t, st, "b")

	var wg sync.WaitGroup
	var failed, stored sync.Map
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				ten := a
				if (g+i)%3 == 0 {
					ten = b
				}
				in := store.MessageInput{LeadID: fmt.Sprintf("lead-%d", i%7), CreateLead: true, Role: store.RoleUser,
					Content: "oi", Status: store.MsgDelivered}
				if i%5 == 0 {
					in.CreateLead = false
					in.LeadID = fmt.Sprintf("nobody-%d-%d", g, i) // fails inside its group
				}
				_, err := ten.AddMessage(ctx, in)
				switch {
				case in.CreateLead && err != nil:
					t.Errorf("add message: %v", err)
				case !in.CreateLead && !errors.Is(err, store.ErrNotFound):
					t.Errorf("message for an unknown lead: err = %v, want ErrNotFound", err)
				case err != nil:
					failed.Store(fmt.Sprint(g, i), true)
				default:
					stored.Store(fmt.Sprint(g, i), true)
				}
			}
		}()
	}
	wg.Wait()

	check := func(ten *store.Tenant, sunk []int64) int64 {
		t.Helper()
		bounds, err := ten.EventBounds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := ten.EventsAfter(ctx, 0, bounds.Last, store.EventFilter{}, 100000)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(evs)) != bounds.Last || int64(len(sunk)) != bounds.Last {
			t.Fatalf("tenant %s: last id %d, %d events stored, %d handed to the sink", ten.ID(), bounds.Last, len(evs), len(sunk))
		}
		for i, ev := range evs {
			if ev.Seq != int64(i+1) || sunk[i] != int64(i+1) {
				t.Fatalf("tenant %s: event %d has stored id %d and sink id %d", ten.ID(), i, ev.Seq, sunk[i])
			}
		}
		return bounds.Last
	}
	mu.Lock()
	lastA, lastB := check(a, seen[a.ID()]), check(b, seen[b.ID()])
	mu.Unlock()
	if lastA == 0 || lastB == 0 {
		t.Fatalf("no events: a %d, b %d", lastA, lastB)
	}

	st.Close()
	st = storetest.Open(t, path)
	var next []store.Event
	st.OnEvents(func(evs []store.Event) { next = append(next, evs...) })
	if _, err := st.Tenant(a.ID()).AddMessage(ctx, store.MessageInput{LeadID: "lead-1", Role: store.RoleUser,
		Content: "de novo", Status: store.MsgDelivered}); err != nil {
		t.Fatal(err)
	}
	if len(next) == 0 || next[0].Seq != lastA+1 {
		t.Fatalf("after reopening, the first id is %v, want %d", next, lastA+1)
	}
}

// TestSearchAfterNewestRowsDeleted: deleting the newest conversation and
// messages hands their rowids out again; the rows that get them must still
// be found by search (the index's progress mark must not pass over them).
func TestSearchAfterNewestRowsDeleted(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	add := func(lead, name, text string) {
		t.Helper()
		if _, err := ten.CreateLead(ctx, store.LeadInput{ID: &lead, Name: &name}); err != nil {
			t.Fatal(err)
		}
		if _, err := ten.AddMessage(ctx, store.MessageInput{LeadID: lead, Role: store.RoleUser, Content: text,
			Status: store.MsgDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	found := func(search string) int {
		t.Helper()
		_, total, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 10, Search: search})
		if err != nil {
			t.Fatal(err)
		}
		return total
	}
	add("lead-old", "Oldfield", "first words")
	add("lead-gone", "Goneby", "zebra crossing")
	if n := found("zebra"); n != 1 { // indexes everything so far
		t.Fatalf("search zebra before the delete: %d conversations, want 1", n)
	}
	if err := ten.DeleteLead(ctx, "lead-gone"); err != nil {
		t.Fatal(err)
	}
	add("lead-new", "Newcombe", "quagga herd")
	for _, q := range []string{"quagga", "Newcombe", "Oldfield", "first words"} {
		if n := found(q); n != 1 {
			t.Errorf("search %q: %d conversations, want 1", q, n)
		}
	}
	if n := found("zebra"); n != 0 {
		t.Errorf("search zebra after the delete: %d conversations, want 0", n)
	}
}
