package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestDefaultChannel: a new tenant has one default channel (api, "API"),
// listed first and impossible to delete; every path that names no channel
// (a Leavo message, an EvaGPT conversation) lands on it, so a client that
// always asks for ?channel_id=<default>&lead=… finds that traffic.
func TestDefaultChannel(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	def, err := ten.DefaultChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ten.CreateChannel(ctx, store.ChannelInput{Name: ptr("WhatsApp"), Type: ptr("whatsapp")})
	if err != nil {
		t.Fatal(err)
	}
	list, total, err := ten.ListChannels(ctx, store.Page{Limit: 10})
	if err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("channels = %+v (total %d), %v", list, total, err)
	}
	if c := list[0]; c.ID != def || !c.IsDefault || c.Type != "api" || c.Name != "API" || c.AssistantID != nil {
		t.Errorf("first channel = %+v, want the default api channel %s", c, def)
	}
	if list[1].IsDefault {
		t.Errorf("a created channel is marked default: %+v", list[1])
	}
	if err := ten.DeleteChannel(ctx, def); !errors.Is(err, store.ErrDefaultChannel) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("deleting the default channel: %v, want ErrDefaultChannel (a conflict)", err)
	}
	if err := ten.DeleteChannel(ctx, other.ID); err != nil {
		t.Errorf("deleting another channel: %v", err)
	}
	if err := ten.DeleteChannel(ctx, other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting it again: %v, want not found", err)
	}

	bot, err := ten.DefaultAssistant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		channel string
	}{
		{"no channel", ""},
		{"the default channel by id", def},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: "5511999999999@s.whatsapp.net", ChannelID: c.channel,
				CreateLead: true, Role: store.RoleUser, Content: "oi", Status: store.MsgDelivered})
			if err != nil {
				t.Fatal(err)
			}
			if s.Conversation.ChannelID == nil || *s.Conversation.ChannelID != def || s.Message.ChannelID == nil || *s.Message.ChannelID != def {
				t.Errorf("message on channel %v, conversation on %v, want %s", s.Message.ChannelID, s.Conversation.ChannelID, def)
			}
			if s.Conversation.AssistantID != bot.ID {
				t.Errorf("assistant %s, want the default %s", s.Conversation.AssistantID, bot.ID)
			}
			msgs, err := ten.ListMessages(ctx, "5511999999999@s.whatsapp.net", def, store.Page{Limit: 10})
			if err != nil || len(msgs) == 0 || msgs[len(msgs)-1].ID != s.Message.ID {
				t.Errorf("?channel_id=<default>&lead= lists %+v, %v; want the message", msgs, err)
			}
		})
	}
	convs, _, err := ten.ListConversations(ctx, store.ConversationFilter{ChannelID: def}, store.Page{Limit: 10})
	if err != nil || len(convs) != 1 {
		t.Errorf("conversations on the default channel = %+v, %v; want the one thread both messages used", convs, err)
	}
	agent, err := ten.CreateConversation(ctx, bot.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if agent.ChannelID == nil || *agent.ChannelID != def {
		t.Errorf("an agent conversation is on channel %v, want %s", agent.ChannelID, def)
	}
}

// TestMigrationMovesOntoDefaultChannel: a version-8 database gets a default
// channel per tenant (dated like the tenant, so it lists first), and what
// named no channel moves onto it: conversations of both dialects, their
// messages and pending batches. The next message without a channel finds
// the migrated conversation instead of opening a second one.
func TestMigrationMovesOntoDefaultChannel(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v8.db")
	const lead = "5511999999999@s.whatsapp.net"
	buildAt(t, path, snapshots(t)[8], 8,
		`INSERT INTO tenants (id, name, postback_secret, created_at) VALUES ('t1', 'old', 'whsec_x', 1700000000000)`,
		`INSERT INTO assistants (id, tenant_id, name, is_default, created_at, updated_at)
		 VALUES ('a1', 't1', 'Default assistant', 1, 1700000000000, 1700000000000)`,
		`INSERT INTO channels (id, tenant_id, name, type, created_at, updated_at) VALUES ('wa', 't1', 'WhatsApp', 'whatsapp', 1700000001000, 1700000001000)`,
		`INSERT INTO leads (tenant_id, id, created_at, updated_at) VALUES ('t1', '`+lead+`', 1700000000000, 1700000000000)`,
		`INSERT INTO conversations (id, tenant_id, lead_id, assistant_id, thread_key, created_at, updated_at)
		 VALUES ('c1', 't1', '`+lead+`', 'a1', 'a:a1', 1700000002000, 1700000002000)`,
		`INSERT INTO conversations (id, tenant_id, lead_id, channel_id, assistant_id, thread_key, created_at, updated_at)
		 VALUES ('c2', 't1', '`+lead+`', 'wa', 'a1', 'c:wa', 1700000002000, 1700000002000)`,
		`INSERT INTO conversations (id, tenant_id, lead_id, assistant_id, thread_key, created_at, updated_at)
		 VALUES ('e1', 't1', '`+lead+`', 'a1', 'e:e1', 1700000002000, 1700000002000)`,
		`INSERT INTO messages (id, tenant_id, conversation_id, lead_id, role, content, status, created_at)
		 VALUES ('m1', 't1', 'c1', '`+lead+`', 'user', 'oi', 'delivered', 1700000002000)`,
		`INSERT INTO messages (id, tenant_id, conversation_id, lead_id, channel_id, role, content, status, created_at)
		 VALUES ('m2', 't1', 'c2', '`+lead+`', 'wa', 'user', 'oi', 'delivered', 1700000002000)`,
		`INSERT INTO batches (tenant_id, conversation_id, lead_id, postback_url, first_at, deadline)
		 VALUES ('t1', 'c1', '`+lead+`', 'https://x/pb', 1700000002000, 1700000003000)`,
	)
	st := storetest.Open(t, path)
	ten := st.Tenant("t1")
	def, err := ten.DefaultChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := ten.ListChannels(ctx, store.Page{Limit: 10})
	if err != nil || len(list) != 2 || list[0].ID != def || int64(list[0].CreatedAt) != 1700000000000 || list[1].ID != "wa" {
		t.Errorf("channels after migration = %+v, %v; want the default (dated like the tenant) then wa", list, err)
	}
	for id, want := range map[string]string{"c1": def, "e1": def, "c2": "wa"} {
		c, err := ten.Conversation(ctx, id)
		if err != nil || c.ChannelID == nil || *c.ChannelID != want {
			t.Errorf("conversation %s on %v (%v), want %s", id, c.ChannelID, err, want)
		}
	}
	if msgs, err := ten.ListMessages(ctx, lead, def, store.Page{Limit: 10}); err != nil || len(msgs) != 1 || msgs[0].ID != "m1" {
		t.Errorf("messages on the default channel = %+v, %v; want m1", msgs, err)
	}
	if b, ok, err := ten.Batch(ctx, "c1"); err != nil || !ok || b.ChannelID != def {
		t.Errorf("batch after migration = %+v, %v, %v; want it on %s", b, ok, err, def)
	}
	s, err := ten.AddMessage(ctx, store.MessageInput{LeadID: lead, Role: store.RoleUser, Content: "de novo", Status: store.MsgDelivered})
	if err != nil || s.Conversation.ID != "c1" {
		t.Errorf("a message with no channel went to %s (%v), want the migrated c1", s.Conversation.ID, err)
	}
}

// TestMetaSearchAtAnyDepth: meta= and search= find string and number values
// inside nested objects and arrays, through the index (3 characters or more)
// and by scanning (fewer); keys, booleans and nulls are not values to find.
func TestMetaSearchAtAnyDepth(t *testing.T) {
	ctx := context.Background()
	_, ten, bot, _ := agentStore(t)
	nested, err := ten.CreateConversation(ctx, bot, "", store.Meta{
		"contact": map[string]any{"city": "Recife", "address": map[string]any{"zip": 50030}},
		"tags":    []any{"vip", map[string]any{"campaign": "Black Friday"}, 42.5},
		"flags":   map[string]any{"optin": true, "none": nil},
		"top":     "plain",
	})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ten.CreateConversation(ctx, bot, "", store.Meta{"other": "nothing else"})
	if err != nil {
		t.Fatal(err)
	}
	one := []string{nested.ID}
	for _, c := range []struct {
		q    store.ConversationQuery
		want []string
	}{
		{store.ConversationQuery{Meta: "Recife"}, one},          // object in object
		{store.ConversationQuery{Meta: "50030"}, one},           // number two levels down
		{store.ConversationQuery{Meta: "black fri"}, one},       // object in array, case ignored
		{store.ConversationQuery{Meta: "vip"}, one},             // array item
		{store.ConversationQuery{Meta: "42.5"}, one},            // number in array
		{store.ConversationQuery{Meta: "plain"}, one},           // top level, as before
		{store.ConversationQuery{Meta: "Re"}, one},              // short: the scan path
		{store.ConversationQuery{Meta: "42"}, one},              // short number
		{store.ConversationQuery{Search: "Recife"}, one},        // search covers meta values too
		{store.ConversationQuery{Search: "vi"}, one},            // short search
		{store.ConversationQuery{Meta: "city"}, []string{}},     // keys are not values
		{store.ConversationQuery{Meta: "true"}, []string{}},     // nor booleans
		{store.ConversationQuery{Meta: "campaign"}, []string{}}, // nor keys inside arrays
		{store.ConversationQuery{Meta: "nothing"}, []string{other.ID}},
		{store.ConversationQuery{Meta: "Recife x"}, []string{}}, // a phrase that is not there
		{store.ConversationQuery{Meta: "Recife", Search: "vip"}, one},
	} {
		c.q.Limit = 10
		list, _, err := ten.SearchConversations(ctx, c.q)
		if err != nil {
			t.Fatalf("%+v: %v", c.q, err)
		}
		if got := agentIDsOf(list); !slices.Equal(got, c.want) {
			t.Errorf("%+v found %v, want %v", c.q, got, c.want)
		}
	}
}

// TestMigrationIndexesNestedMeta: a conversation indexed by version 8 (its
// top-level meta values only) is found by a nested value once migrated.
func TestMigrationIndexesNestedMeta(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v8.db")
	buildAt(t, path, snapshots(t)[8], 8,
		`INSERT INTO tenants (id, name, postback_secret, created_at) VALUES ('t1', 'old', 'whsec_x', 1700000000000)`,
		`INSERT INTO assistants (id, tenant_id, name, is_default, created_at, updated_at)
		 VALUES ('a1', 't1', 'Default assistant', 1, 1700000000000, 1700000000000)`,
		`INSERT INTO leads (tenant_id, id, created_at, updated_at) VALUES ('t1', 'l1', 1700000000000, 1700000000000)`,
		`INSERT INTO conversations (id, tenant_id, lead_id, assistant_id, thread_key, meta, created_at, updated_at)
		 VALUES ('e1', 't1', 'l1', 'a1', 'e:e1', '{"top":"plain","contact":{"city":"Recife"}}', 1700000002000, 1700000002000)`,
		// As version 8 indexed it: top-level values only, and marked indexed.
		`INSERT INTO conversation_search (rowid, ident, meta) SELECT pk, id, 'plain' FROM conversations`,
		`UPDATE search_state SET conversations_indexed_through = (SELECT max(pk) FROM conversations)`,
	)
	ten := storetest.Open(t, path).Tenant("t1")
	for _, m := range []string{"plain", "Recife"} {
		list, _, err := ten.SearchConversations(ctx, store.ConversationQuery{Limit: 10, Meta: m})
		if err != nil || len(list) != 1 || list[0].ID != "e1" {
			t.Errorf("meta %q after migration found %v, %v; want e1", m, agentIDsOf(list), err)
		}
	}
}
