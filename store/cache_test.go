package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestAssistantReadsSeeEveryWrite: Tenant.Assistant answers from memory,
// and an acknowledged update or delete is seen by the very next read.
func TestAssistantReadsSeeEveryWrite(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	name, prompt := "Maria", "Be brief."
	a, err := ten.CreateAssistant(ctx, store.AssistantInput{Name: &name, SystemPrompt: &prompt})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read is the cached one
		got, err := ten.Assistant(ctx, a.ID)
		if err != nil || got.SystemPrompt != prompt {
			t.Fatalf("read: %+v, %v", got, err)
		}
	}
	temp := 0.5
	got, _ := ten.Assistant(ctx, a.ID)
	got.Temperature = &temp // a caller's change must not reach the cache
	prompt = "Be thorough."
	if _, err := ten.UpdateAssistant(ctx, a.ID, store.AssistantInput{SystemPrompt: &prompt}); err != nil {
		t.Fatal(err)
	}
	got, err = ten.Assistant(ctx, a.ID)
	if err != nil || got.SystemPrompt != prompt || got.Temperature != nil {
		t.Fatalf("read after update: %+v, %v; want the new prompt and no temperature", got, err)
	}
	other, _ := storetest.Tenant(t, st, "other")
	if _, err := other.Assistant(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant reads the assistant: %v", err)
	}
	if err := ten.DeleteAssistant(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.Assistant(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read after delete: %v, want ErrNotFound", err)
	}
}

// TestSearchTotalsSeeEveryWrite: text-search totals are cached, and every
// kind of write that changes what a search matches shows in the next total.
func TestSearchTotalsSeeEveryWrite(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	total := func(search string) int {
		t.Helper()
		_, n, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 5, Search: search})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	say := func(lead, text string) store.Stored {
		t.Helper()
		s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: lead, CreateLead: true, Role: store.RoleUser, Content: text,
			Status: store.MsgDelivered})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := say("lead-1", "zebra crossing")
	for range 2 {
		if n := total("zebra"); n != 1 {
			t.Fatalf("zebra: %d, want 1", n)
		}
	}
	if n := total("giraffe"); n != 0 {
		t.Fatalf("giraffe: %d, want 0", n)
	}
	say("lead-1", "a giraffe too") // only the search index changes
	if n := total("giraffe"); n != 1 {
		t.Fatalf("giraffe after a message in an existing conversation: %d, want 1", n)
	}
	say("lead-2", "another zebra") // a new conversation's message
	if n := total("zebra"); n != 2 {
		t.Fatalf("zebra after a second conversation mentions it: %d, want 2", n)
	}
	if n := total("Quagga"); n != 0 {
		t.Fatalf("Quagga: %d, want 0", n)
	}
	name := "Quagga Smith"
	if _, err := ten.UpdateLead(ctx, "lead-1", store.LeadInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if n := total("Quagga"); n != 1 {
		t.Fatalf("Quagga after a lead is renamed: %d, want 1", n)
	}
	if _, err := ten.UpdateConversation(ctx, first.Conversation.ID, store.ConversationPatch{Meta: store.Meta{"team": "okapi"}}); err != nil {
		t.Fatal(err)
	}
	if n := total("okapi"); n != 1 {
		t.Fatalf("okapi after a meta change: %d, want 1", n)
	}
	if err := ten.DeleteLead(ctx, "lead-2"); err != nil {
		t.Fatal(err)
	}
	if n := total("zebra"); n != 1 {
		t.Fatalf("zebra after a lead is deleted: %d, want 1", n)
	}
}

// TestSearchTotalsOnEveryKindOfPage: a total counted with the page (a
// window count) or apart is the same on a first page, an offset page, a
// page past the end and a keyset page, cached or not.
func TestSearchTotalsOnEveryKindOfPage(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	n := 0
	say := func(text string) {
		t.Helper()
		n++
		if _, err := ten.AddMessage(ctx, store.MessageInput{LeadID: fmt.Sprintf("lead-%d", n), CreateLead: true,
			Role: store.RoleUser, Content: text, Status: store.MsgDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		say("zebra")
	}
	first, _, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 2, Search: "zebra"})
	if err != nil || len(first) != 2 {
		t.Fatalf("first page: %v, %v", first, err)
	}
	last := first[1]
	for _, q := range []store.ConversationQuery{
		{Limit: 2, Search: "zebra"},
		{Limit: 2, Offset: 4, Search: "zebra"},
		{Limit: 2, Offset: 10, Search: "zebra"},
		{Limit: 2, Search: "zebra", AfterCreatedAt: &last.CreatedAt, AfterID: last.ID},
		{Limit: 2, Meta: "nothing-has-this"},
	} {
		want := 5
		if q.Meta != "" {
			want = 0
		}
		for _, fresh := range []bool{true, false} {
			if fresh {
				say("unrelated words") // moves the generation: nothing cached
			}
			_, total, err := ten.SearchConversations(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if total != want {
				t.Errorf("%+v (fresh %v): total %d, want %d", q, fresh, total, want)
			}
		}
	}
}
