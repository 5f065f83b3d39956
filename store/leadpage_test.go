package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// Paging a lead's history by timestamps never skips or repeats a message,
// even when many messages share one millisecond (an answer is often stored
// in the millisecond of its question).
func TestLeadMessagesPagesNeverSplitAMillisecond(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"), storetest.Schema(t), store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info, _, err := st.CreateTenant(ctx, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	ten := st.Tenant(info.ID)
	// Bursts of 1, 2, 3, 7 and 12 messages per millisecond.
	var want []string
	for ms, burst := range []int{1, 2, 3, 7, 12, 1, 2} {
		mu.Lock()
		now = now.Add(time.Duration(ms+1) * time.Millisecond)
		mu.Unlock()
		for i := 0; i < burst; i++ {
			s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "lead", CreateLead: true, Role: store.RoleUser,
				Content: fmt.Sprintf("m%d-%d", ms, i), MessageType: "text", Status: store.MsgDelivered})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, s.Message.ID)
		}
	}
	for _, limit := range []int{1, 2, 3, 4, 5, 10} {
		// Backwards with before = the page's oldest timestamp.
		var got []string
		var before *store.Time
		for pages := 0; pages < 100; pages++ {
			p, err := ten.LeadMessages(ctx, "lead", limit, before, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Messages) == 0 {
				t.Fatalf("limit %d: an empty page", limit)
			}
			ids := make([]string, len(p.Messages))
			for i, m := range p.Messages {
				ids[i] = m.ID
			}
			got = append(ids, got...)
			if !p.HasMore {
				break
			}
			ts := p.Messages[0].Timestamp
			before = &ts
		}
		assertSame(t, fmt.Sprintf("limit %d backwards", limit), got, want)
		// Forwards with after = the page's newest timestamp.
		got = nil
		var after = store.Time(0)
		for pages := 0; pages < 100; pages++ {
			p, err := ten.LeadMessages(ctx, "lead", limit, nil, &after)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range p.Messages {
				got = append(got, m.ID)
			}
			if !p.HasMore {
				break
			}
			after = p.Messages[len(p.Messages)-1].Timestamp
		}
		assertSame(t, fmt.Sprintf("limit %d forwards", limit), got, want)
	}
}

func assertSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d messages, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: message %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}
