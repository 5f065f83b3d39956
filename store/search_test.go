package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestSearchIgnoresCaseAndAccents: on both engines a search finds text
// whatever its case and accents (FTS5's trigram tokenizer with
// remove_diacritics on SQLite, parley_fold on PostgreSQL), in the lead's
// name, the messages and nested meta values, and follows every change of
// them: a new conversation, its meta, its lead's name.
func TestSearchIgnoresCaseAndAccents(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	name, email := "José da Silva", "ze@mail.test"
	if _, err := ten.CreateLead(ctx, store.LeadInput{ID: ptr("lead-jose"), Name: &name, Email: &email}); err != nil {
		t.Fatal(err)
	}
	s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "lead-jose", Role: store.RoleUser,
		Content: "Quero um ORÇAMENTO para amanhã", Status: store.MsgDelivered})
	if err != nil {
		t.Fatal(err)
	}
	jose := s.Conversation.ID
	if _, err := ten.UpdateConversation(ctx, jose, store.ConversationPatch{Meta: store.Meta{
		"address": map[string]any{"city": "São Paulo"}, "tags": []any{"Açaí", 7}}}); err != nil {
		t.Fatal(err)
	}
	other, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "lead-maria", CreateLead: true, Role: store.RoleUser,
		Content: "nothing to see", Status: store.MsgDelivered})
	if err != nil {
		t.Fatal(err)
	}
	search := func(q store.ConversationQuery) []string { return searchIDs(t, ten, q) }
	expect := func(want []string, qs ...store.ConversationQuery) {
		t.Helper()
		for _, q := range qs {
			if got := search(q); !slices.Equal(got, want) {
				t.Errorf("%s: %+v found %v, want %v", storetest.Engine(), q, got, want)
			}
		}
	}
	one, none := []string{jose}, []string{}
	expect(one,
		store.ConversationQuery{Search: "Jose"}, store.ConversationQuery{Search: "JOSÉ DA"},
		store.ConversationQuery{Search: "jose"}, store.ConversationQuery{Search: "orcamento"},
		store.ConversationQuery{Search: "AMANHA"}, store.ConversationQuery{Search: "Orçamento para"},
		store.ConversationQuery{Meta: "sao paulo"}, store.ConversationQuery{Meta: "SÃO"},
		store.ConversationQuery{Meta: "acai"}, store.ConversationQuery{Search: "Paulo"},
		store.ConversationQuery{Meta: "Paulo Açaí"}, // leaves in document order, joined by a space
		store.ConversationQuery{Search: "lead-jose"}, store.ConversationQuery{Search: "-jo"})
	expect(none, store.ConversationQuery{Meta: "address"}, store.ConversationQuery{Meta: "jose"},
		store.ConversationQuery{Search: "josé x"})
	expect([]string{other.Conversation.ID}, store.ConversationQuery{Search: "NOTHING"})

	// The documents follow the lead's name and the conversation's meta.
	renamed := "Joaquim Nabuco"
	if _, err := ten.UpdateLead(ctx, "lead-jose", store.LeadInput{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.UpdateConversation(ctx, jose, store.ConversationPatch{Meta: store.Meta{
		"address": map[string]any{"city": "Recife"}}}); err != nil {
		t.Fatal(err)
	}
	expect(one, store.ConversationQuery{Search: "nabuco"}, store.ConversationQuery{Meta: "RECIFE"},
		store.ConversationQuery{Meta: "açai"})
	expect(none, store.ConversationQuery{Search: "José da"}, store.ConversationQuery{Meta: "paulo"})

	// Leads are searched in name, email and phone, case and accents ignored
	// (more in TestSearchFoldsShortSearches).
	leads, total, err := ten.ListLeads(ctx, "NABUCO", store.Page{Limit: 10})
	if err != nil || total != 1 || len(leads) != 1 || leads[0].ID != "lead-jose" {
		t.Errorf("leads NABUCO: %v (total %d), %v", leads, total, err)
	}
	if _, total, err := ten.ListLeads(ctx, "ZE@", store.Page{Limit: 10}); err != nil || total != 1 {
		t.Errorf("leads ZE@: total %d, %v", total, err)
	}
}
