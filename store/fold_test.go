package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestSearchFoldsShortSearches: every search ignores case and accents on
// both engines, whether it is looked up in a trigram index (three characters
// or more) or scans the rows: short searches, short meta searches, the lead
// list and assistants' names (parley_fold on SQLite, fold.go). Before,
// SQLite's scans compared with plain LIKE, which ignores ASCII case only:
// "jo" missed "João", "elo" missed an assistant named "Élodie".
func TestSearchFoldsShortSearches(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")

	elodie, err := ten.CreateAssistant(ctx, store.AssistantInput{Name: ptr("Élodie")})
	if err != nil {
		t.Fatal(err)
	}
	elodieChannel, err := ten.CreateChannel(ctx, store.ChannelInput{Name: ptr("site"), Type: ptr("web"), AssistantID: &elodie.ID})
	if err != nil {
		t.Fatal(err)
	}
	// One conversation per lead; lead ids and the content are chosen to match
	// none of the searches below (conversation ids are lower-case hex).
	conv := map[string]string{}
	for _, l := range []struct{ id, name, channel string }{
		{"l1", "João", ""},
		{"l2", "José Álvarez", ""},
		{"l3", "Maria", elodieChannel.ID}, // answered by Élodie
		{"l4", "Pedro", ""},               // meta city São Paulo
		{"l5", "Bruno 100%", ""},          // unrelated to every search but "0%"
	} {
		if _, err := ten.CreateLead(ctx, store.LeadInput{ID: ptr(l.id), Name: ptr(l.name)}); err != nil {
			t.Fatal(err)
		}
		s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: l.id, ChannelID: l.channel, Role: store.RoleUser,
			Content: "bom dia", Status: store.MsgDelivered})
		if err != nil {
			t.Fatal(err)
		}
		conv[l.id] = s.Conversation.ID
	}
	if _, err := ten.UpdateConversation(ctx, conv["l4"], store.ConversationPatch{Meta: store.Meta{"city": "São Paulo"}}); err != nil {
		t.Fatal(err)
	}

	ids := func(leads ...string) []string {
		out := []string{}
		for _, l := range leads {
			out = append(out, conv[l])
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		name string
		q    store.ConversationQuery
		want []string
	}{
		{"short lead name", store.ConversationQuery{Search: "jo"}, ids("l1", "l2")},
		{"short accented", store.ConversationQuery{Search: "ÃO"}, ids("l1", "l4")}, // João, São Paulo
		{"short accented lower", store.ConversationQuery{Search: "ão"}, ids("l1", "l4")},
		{"upper", store.ConversationQuery{Search: "JOA"}, ids("l1")},
		{"lower", store.ConversationQuery{Search: "joa"}, ids("l1")},
		{"accent in the search", store.ConversationQuery{Search: "JOÃ"}, ids("l1")},
		{"short second word", store.ConversationQuery{Search: "ál"}, ids("l2")},
		{"assistant", store.ConversationQuery{Search: "elo"}, ids("l3")},
		{"assistant upper accented", store.ConversationQuery{Search: "ÉLO"}, ids("l3")},
		{"assistant short", store.ConversationQuery{Search: "ÉL"}, ids("l3")},
		{"short meta", store.ConversationQuery{Meta: "sa"}, ids("l4")},
		{"long meta", store.ConversationQuery{Meta: "sao"}, ids("l4")},
		{"meta accented upper", store.ConversationQuery{Meta: "SÃ"}, ids("l4")},
		{"short search in meta", store.ConversationQuery{Search: "sa"}, ids("l4")},
		{"escaped percent", store.ConversationQuery{Search: "0%"}, ids("l5")},
		{"unrelated short", store.ConversationQuery{Search: "zq"}, ids()},
		{"unrelated long", store.ConversationQuery{Search: "joe"}, ids()},
		{"unrelated meta", store.ConversationQuery{Meta: "ri"}, ids()},
		{"percent is not a wildcard", store.ConversationQuery{Search: "o%"}, ids()},
	} {
		got := searchIDs(t, ten, c.q)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %s %+v found %v, want %v", storetest.Engine(), c.name, c.q, got, c.want)
		}
	}

	for _, c := range []struct {
		search string
		want   []string
	}{
		{"jose", []string{"l2"}},
		{"ALV", []string{"l2"}},
		{"álvarez", []string{"l2"}},
		{"jo", []string{"l1", "l2"}},
		{"ÃO", []string{"l1"}},
		{"joe", []string{}},
		{"zq", []string{}},
	} {
		list, total, err := ten.ListLeads(ctx, c.search, store.Page{Limit: 10})
		if err != nil {
			t.Fatalf("leads %q: %v", c.search, err)
		}
		got := []string{}
		for _, l := range list {
			got = append(got, l.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) || total != len(c.want) {
			t.Errorf("%s: leads %q found %v (total %d), want %v", storetest.Engine(), c.search, got, total, c.want)
		}
	}
}
