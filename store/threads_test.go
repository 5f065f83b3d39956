package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestMessagesSeeEveryConversationChange: the writer remembers the
// conversations messages go to (threads.go). Interleaved with every other
// kind of write to conversations, leads, channels and assistants, each
// message must still land in the right conversation, and the conversation it
// reports must be exactly the stored one.
func TestMessagesSeeEveryConversationChange(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	asstName := "Sales"
	asst, err := ten.CreateAssistant(ctx, store.AssistantInput{Name: &asstName})
	if err != nil {
		t.Fatal(err)
	}
	chType, chName := "whatsapp", "main"
	ch, err := ten.CreateChannel(ctx, store.ChannelInput{Type: &chType, Name: &chName, AssistantID: &asst.ID})
	if err != nil {
		t.Fatal(err)
	}

	var last store.Stored
	say := func(lead, channel, conversation, role string) store.Stored {
		t.Helper()
		s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: lead, ChannelID: channel, ConversationID: conversation,
			CreateLead: true, Role: role, Content: "oi", Status: store.MsgDelivered})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := ten.Conversation(ctx, s.Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Conversation, stored) {
			t.Fatalf("message reported conversation\n%+v\nbut the store holds\n%+v", s.Conversation, stored)
		}
		last = s
		return s
	}

	first := say("lead-1", "", "", store.RoleUser)
	if say("lead-1", "", "", store.RoleUser).Conversation.UnreadCount != 2 {
		t.Fatal("unread count did not grow")
	}
	if _, err := ten.MarkRead(ctx, first.Conversation.ID); err != nil {
		t.Fatal(err)
	}
	if n := say("lead-1", "", "", store.RoleUser).Conversation.UnreadCount; n != 1 {
		t.Fatalf("after mark-read and one message: unread %d, want 1", n)
	}
	paused := false
	if _, err := ten.UpdateConversation(ctx, first.Conversation.ID, store.ConversationPatch{IsAIActive: &paused}); err != nil {
		t.Fatal(err)
	}
	if say("lead-1", "", "", store.RoleUser).Conversation.IsAIActive {
		t.Fatal("a paused conversation reads active")
	}
	name := "Zoë"
	if _, err := ten.UpdateLead(ctx, "lead-1", store.LeadInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got := say("lead-1", "", "", store.RoleUser).Conversation.Lead.Name; got == nil || *got != name {
		t.Fatalf("lead name in the conversation: %v, want %s", got, name)
	}
	if _, err := ten.SetSurvey(ctx, first.Conversation.ID, 4, "ok"); err != nil {
		t.Fatal(err)
	}
	say("lead-1", "", first.Conversation.ID, store.RoleAssistant)
	archived := store.StatusArchived
	if _, err := ten.UpdateConversation(ctx, first.Conversation.ID, store.ConversationPatch{Status: &archived}); err != nil {
		t.Fatal(err)
	}
	if next := say("lead-1", "", "", store.RoleUser); next.Conversation.ID == first.Conversation.ID {
		t.Fatal("a message after archiving went to the archived conversation")
	}

	onChannel := say("lead-2", ch.ID, "", store.RoleUser)
	if onChannel.Conversation.AssistantID != asst.ID {
		t.Fatalf("channel conversation has assistant %s, want %s", onChannel.Conversation.AssistantID, asst.ID)
	}
	say("lead-2", ch.ID, "", store.RoleHuman) // pauses (pause_on_human)
	if err := ten.DeleteAssistant(ctx, asst.ID); err != nil {
		t.Fatal(err)
	}
	if say("lead-2", ch.ID, "", store.RoleUser).Conversation.AssistantID == asst.ID {
		t.Fatal("the conversation kept a deleted assistant")
	}
	if err := ten.DeleteChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "lead-2", ChannelID: ch.ID, Role: store.RoleUser,
		Content: "oi", Status: store.MsgDelivered}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("message on a deleted channel: %v, want not found", err)
	}
	if err := ten.DeleteLead(ctx, "lead-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "lead-1", Role: store.RoleUser, Content: "oi",
		Status: store.MsgDelivered}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("message for a deleted lead: %v, want not found", err)
	}
	if again := say("lead-1", "", "", store.RoleUser); again.Conversation.ID == first.Conversation.ID || !again.LeadCreated {
		t.Fatalf("a deleted lead's new message: %+v", again)
	}
	other, _ := storetest.Tenant(t, st, "other")
	if _, err := other.AddMessage(ctx, store.MessageInput{LeadID: "lead-1", ConversationID: last.Conversation.ID,
		Role: store.RoleUser, Content: "oi", Status: store.MsgDelivered}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's message into this conversation: %v, want not found", err)
	}
}

// TestRolledBackMessagesLeaveNoState: a group commit that fails is rerun
// write by write; what the failed attempt remembered must not survive it.
func TestRolledBackMessagesLeaveNoState(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	for i := range 8 {
		if _, err := ten.CreateLead(ctx, store.LeadInput{ID: ptrTo(fmt.Sprintf("lead-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				lead := fmt.Sprintf("lead-%d", (g+i)%8)
				if i%4 == 0 {
					lead = "nobody" // fails inside its group, which is rerun
				}
				_, err := ten.AddMessage(ctx, store.MessageInput{LeadID: lead, Role: store.RoleUser, Content: "oi", Status: store.MsgDelivered})
				if (err == nil) == (lead == "nobody") {
					t.Errorf("message for %s: %v", lead, err)
				}
				if err == nil {
					mu.Lock()
					stored++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for i := range 8 {
		s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: fmt.Sprintf("lead-%d", i), Role: store.RoleUser,
			Content: "oi", Status: store.MsgDelivered})
		if err != nil {
			t.Fatal(err)
		}
		conv, err := ten.Conversation(ctx, s.Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Conversation, conv) {
			t.Fatalf("lead-%d: reported %+v, stored %+v", i, s.Conversation, conv)
		}
		total += conv.UnreadCount
	}
	if want := stored + 8; total != want || stored == 0 {
		t.Fatalf("unread counts add up to %d, want %d (one per stored user message)", total, want)
	}
}

func ptrTo[T any](v T) *T { return &v }
