package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestAddMessageCreatesThreadAndEvents(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	var got []store.Event
	st.OnEvents(func(evs []store.Event) { got = append(got, evs...) })
	ten, _ := storetest.Tenant(t, st, "acme")

	first, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "5511999999999@s.whatsapp.net", CreateLead: true,
		Role: store.RoleUser, Content: "oi", Status: store.MsgDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if !first.LeadCreated || first.Conversation.UnreadCount != 1 {
		t.Fatalf("first message: lead created %v, unread %d", first.LeadCreated, first.Conversation.UnreadCount)
	}
	second, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "5511999999999@s.whatsapp.net",
		Role: store.RoleHuman, Content: "um humano", Status: store.MsgPending})
	if err != nil {
		t.Fatal(err)
	}
	if second.Conversation.ID != first.Conversation.ID {
		t.Fatalf("second message opened a new conversation %s, want %s", second.Conversation.ID, first.Conversation.ID)
	}
	if second.Conversation.IsAIActive {
		t.Fatal("a human message must pause the AI (pause_on_human defaults to true)")
	}
	// new_message + conversation_update (unread) ; new_message + conversation_update (paused)
	wantTypes := []string{"new_message", "conversation_update", "new_message", "conversation_update"}
	if len(got) != len(wantTypes) {
		t.Fatalf("got %d events, want %d", len(got), len(wantTypes))
	}
	for i, ev := range got {
		if ev.Type != wantTypes[i] || ev.Seq != int64(i+1) {
			t.Errorf("event %d = %s seq %d, want %s seq %d", i, ev.Type, ev.Seq, wantTypes[i], i+1)
		}
	}
	if _, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "unknown", Role: store.RoleUser, Status: store.MsgDelivered}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown lead without CreateLead: err = %v, want ErrNotFound", err)
	}
}
