package web_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestConvIdentity: a conversation is (lead, channel), or (lead, default
// assistant) without a channel; it is reused while active, and an archived
// one is never reused (API.md §3.2).
func TestConvIdentity(t *testing.T) {
	e := newEnv(t)
	def := convDefaultAssistant(t, e)
	sales := str(t, wantData[obj](t, e.do(http.MethodPost, "/backend/assistants", obj{"name": "Sales"}), http.StatusCreated).Data, "id")
	chPlain := convChannel(t, e, "plain", "")
	chSales := convChannel(t, e, "sales", sales)
	lead := "5511900000001@s.whatsapp.net"

	first := str(t, convProcess(t, e, lead, "user", "hi", ""), "conversation_id")
	if again := str(t, convProcess(t, e, lead, "user", "again", ""), "conversation_id"); again != first {
		t.Fatalf("second message without channel opened %s, want %s reused", again, first)
	}
	if sent := convSend(t, e, obj{"lead_id": lead, "content": "op", "role": "assistant"}); sent["conversation_id"] != first {
		t.Errorf("an operator message went to %v, want %s", sent["conversation_id"], first)
	}
	c := convGet(t, e, first)
	if c["channel_id"] != convDefaultChannel(t, e) || c["assistant_id"] != def || c["lead_id"] != lead {
		t.Errorf("conversation without channel = %v, want the default channel, default assistant, lead %s", c, lead)
	}

	onPlain := str(t, convProcess(t, e, lead, "user", "on plain", chPlain), "conversation_id")
	onSales := str(t, convProcess(t, e, lead, "user", "on sales", chSales), "conversation_id")
	if onPlain == first || onSales == first || onPlain == onSales {
		t.Fatalf("conversations %s (none), %s (plain), %s (sales): want three distinct", first, onPlain, onSales)
	}
	if sent := convSend(t, e, obj{"lead_id": lead, "content": "op", "channel_id": chSales, "role": "assistant"}); sent["conversation_id"] != onSales {
		t.Errorf("operator message on the channel went to %v, want %s", sent["conversation_id"], onSales)
	}
	if c := convGet(t, e, onPlain); c["channel_id"] != chPlain || c["assistant_id"] != def {
		t.Errorf("channel without assistant: %v, want channel %s and the default assistant", c, chPlain)
	}
	if c := convGet(t, e, onSales); c["channel_id"] != chSales || c["assistant_id"] != sales {
		t.Errorf("channel with assistant: %v, want channel %s and assistant %s", c, chSales, sales)
	}
	// Another lead never shares a conversation.
	if other := str(t, convProcess(t, e, "other-lead", "user", "hi", ""), "conversation_id"); other == first {
		t.Error("two leads share one conversation")
	}

	// Archived: the next message opens a new conversation; other threads stay.
	arch := wantData[obj](t, e.do(http.MethodPut, "/backend/conversations/"+first, obj{"status": "archived"}), http.StatusOK).Data
	if arch["status"] != "archived" {
		t.Fatalf("PUT status archived = %v", arch)
	}
	next := str(t, convProcess(t, e, lead, "user", "back", ""), "conversation_id")
	if next == first {
		t.Fatal("a message after archiving reused the archived conversation")
	}
	if c := convGet(t, e, next); c["status"] != "active" || c["unread_count"] != 1.0 {
		t.Errorf("new conversation = %v, want active with 1 unread", c)
	}
	if got := str(t, convProcess(t, e, lead, "user", "sales again", chSales), "conversation_id"); got != onSales {
		t.Errorf("archiving one thread moved the channel thread to %s", got)
	}
	if again := str(t, convProcess(t, e, lead, "user", "still", ""), "conversation_id"); again != next {
		t.Errorf("the new conversation was not reused: %s then %s", next, again)
	}
	// Reopening the archived thread beside its active successor is a conflict.
	wantProblem(t, e.do(http.MethodPut, "/backend/conversations/"+first, obj{"status": "active"}), http.StatusConflict, "ALREADY_EXISTS")
	if c := convGet(t, e, first); c["status"] != "archived" {
		t.Errorf("refused reopen changed the conversation: %v", c)
	}
}

// TestConvListFilters: every filter of GET /backend/conversations, alone and
// combined, newest activity first, with pagination.
func TestConvListFilters(t *testing.T) {
	e := newEnv(t)
	def := convDefaultAssistant(t, e)
	sales := str(t, wantData[obj](t, e.do(http.MethodPost, "/backend/assistants", obj{"name": "Sales"}), http.StatusCreated).Data, "id")
	ch := convChannel(t, e, "wa", sales)
	a := convLead(t, e, obj{"id": "lead-a", "name": "Ana", "phone": "+5511911110000"})
	b := convLead(t, e, obj{"id": "lead-b"})

	cB := str(t, convProcess(t, e, b, "user", "b1", ""), "conversation_id")
	wantData[obj](t, e.do(http.MethodPut, "/backend/conversations/"+cB, obj{"status": "archived"}), http.StatusOK)
	convTick()
	cA := str(t, convProcess(t, e, a, "user", "a1", ""), "conversation_id")
	convTick()
	cACh := str(t, convSend(t, e, obj{"lead_id": a, "content": "a-ch", "channel_id": ch}), "conversation_id") // human: pauses
	convTick()
	cB2 := str(t, convProcess(t, e, b, "user", "b2", ""), "conversation_id")
	convTick()
	convSend(t, e, obj{"lead_id": a, "content": "a2", "role": "assistant"}) // cA becomes the newest activity

	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{cA, cB2, cACh, cB}},
		{convQuery("lead_id", a), []string{cA, cACh}},
		{convQuery("lead_id", b), []string{cB2, cB}},
		{convQuery("lead_id", "nobody"), nil},
		{convQuery("status", "archived"), []string{cB}},
		{convQuery("status", "active"), []string{cA, cB2, cACh}},
		{convQuery("channel_id", ch), []string{cACh}},
		{convQuery("channel_id", "0190a0b0-0000-7000-8000-000000000000"), nil},
		{convQuery("assistant_id", sales), []string{cACh}},
		{convQuery("assistant_id", def), []string{cA, cB2, cB}},
		{convQuery("is_ai_active", "false"), []string{cACh}},
		{convQuery("is_ai_active", "true"), []string{cA, cB2, cB}},
		{convQuery("lead_id", a, "is_ai_active", "true"), []string{cA}},
		{convQuery("lead_id", b, "status", "active", "assistant_id", def), []string{cB2}},
		{convQuery("lead_id", a, "channel_id", ch, "status", "archived"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			env := wantData[[]obj](t, e.do(http.MethodGet, "/backend/conversations"+tc.query, nil), http.StatusOK)
			if got := convIDs(t, env.Data); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
			if env.Data == nil {
				t.Errorf("data is null, want an array")
			}
			if p := env.Pagination; p == nil || p.Total != len(tc.want) || p.Limit != 20 || p.Offset != 0 || p.HasMore {
				t.Errorf("pagination = %+v, want total %d limit 20 offset 0 has_more false", p, len(tc.want))
			}
		})
	}

	pages := []struct {
		query   string
		want    []string
		hasMore bool
	}{
		{convQuery("limit", "2"), []string{cA, cB2}, true},
		{convQuery("limit", "2", "offset", "2"), []string{cACh, cB}, false},
		{convQuery("limit", "3", "offset", "1"), []string{cB2, cACh, cB}, false},
		{convQuery("offset", "4"), nil, false},
		{convQuery("limit", "1", "offset", "1", "status", "active"), []string{cB2}, true},
	}
	for _, tc := range pages {
		t.Run("page "+tc.query, func(t *testing.T) {
			env := wantData[[]obj](t, e.do(http.MethodGet, "/backend/conversations"+tc.query, nil), http.StatusOK)
			if got := convIDs(t, env.Data); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
			if env.Pagination == nil || env.Pagination.HasMore != tc.hasMore {
				t.Errorf("pagination = %+v, want has_more %v", env.Pagination, tc.hasMore)
			}
		})
	}

	bad := []struct {
		query  string
		fields []string
	}{
		{convQuery("status", "open"), []string{"status"}},
		{convQuery("status", "ACTIVE"), []string{"status"}},
		{convQuery("is_ai_active", "yes"), []string{"is_ai_active"}},
		{convQuery("is_ai_active", "1"), []string{"is_ai_active"}},
		{convQuery("status", "x", "is_ai_active", "x"), []string{"status", "is_ai_active"}},
		{convQuery("limit", "0"), []string{"limit"}},
		{convQuery("limit", "101"), []string{"limit"}},
		{convQuery("limit", "ten"), []string{"limit"}},
		{convQuery("offset", "-1"), []string{"offset"}},
		{convQuery("limit", "0", "offset", "x", "status", "x", "is_ai_active", "x"), []string{"limit", "offset", "status", "is_ai_active"}},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.query, func(t *testing.T) {
			wantFields(t, e.do(http.MethodGet, "/backend/conversations"+tc.query, nil), tc.fields...)
		})
	}
}

// TestConvItemShape: a conversation item has exactly the members of API.md
// §3.3, the same in the list and on GET /{id}; others' ids are 404.
func TestConvItemShape(t *testing.T) {
	e := newEnv(t)
	def := convDefaultAssistant(t, e)
	lead := convLead(t, e, obj{"id": "ana", "name": "Ana", "phone": "+5511922223333"})
	convID := str(t, convProcess(t, e, lead, "user", "Olá", ""), "conversation_id")
	convTick()
	convProcess(t, e, lead, "user", "tudo bem?", "") // answered "You said: tudo bem?"

	list := wantData[[]obj](t, e.do(http.MethodGet, "/backend/conversations", nil), http.StatusOK).Data
	if len(list) != 1 {
		t.Fatalf("list = %v, want one conversation", list)
	}
	c := list[0]
	convWantKeys(t, "conversation", c, "id", "lead", "lead_id", "channel_id", "assistant_id", "last_message", "unread_count",
		"is_ai_active", "status", "meta", "created_at", "updated_at")
	l := convObj(t, c, "lead")
	convWantKeys(t, "lead", l, "id", "name", "phone")
	if l["id"] != lead || l["name"] != "Ana" || l["phone"] != "+5511922223333" {
		t.Errorf("lead = %v", l)
	}
	lm := convObj(t, c, "last_message")
	convWantKeys(t, "last_message", lm, "content", "role", "timestamp")
	if lm["content"] != "You said: tudo bem?" || lm["role"] != "assistant" || !timestampRE.MatchString(str(t, lm, "timestamp")) {
		t.Errorf("last_message = %v, want the AI's last answer", lm)
	}
	if c["id"] != convID || c["lead_id"] != lead || c["channel_id"] != convDefaultChannel(t, e) || c["assistant_id"] != def || c["unread_count"] != 2.0 ||
		c["is_ai_active"] != true || c["status"] != "active" {
		t.Errorf("conversation = %v", c)
	}
	if m := convObj(t, c, "meta"); len(m) != 0 {
		t.Errorf("meta = %v, want {}", m)
	}
	created, updated := str(t, c, "created_at"), str(t, c, "updated_at")
	if !timestampRE.MatchString(created) || !timestampRE.MatchString(updated) || updated < created || str(t, lm, "timestamp") > updated {
		t.Errorf("created_at %s updated_at %s last_message %v", created, updated, lm["timestamp"])
	}
	if got := convGet(t, e, convID); mustJSON(t, got) != mustJSON(t, c) {
		t.Errorf("GET /{id} = %v\nlist item  = %v", got, c)
	}

	// Unknown and foreign ids are 404 on every conversation route.
	_, otherKey := storetest.Tenant(t, e.store, "other")
	routes := []struct{ method, suffix string }{
		{http.MethodGet, ""}, {http.MethodPut, ""}, {http.MethodPost, "/read"}, {http.MethodPost, "/typing"},
	}
	bodies := map[string]any{"": obj{"status": "archived"}, "/read": nil, "/typing": obj{"is_typing": true, "role": "user"}}
	for _, rt := range routes {
		var body any
		if rt.method != http.MethodGet {
			body = bodies[rt.suffix]
		}
		for _, id := range []string{"0190a0b0-0000-7000-8000-000000000000", convID} {
			key := otherKey
			if id != convID {
				key = e.key
			}
			path := "/backend/conversations/" + id + rt.suffix
			p := wantProblem(t, e.doKey(key, rt.method, path, body), http.StatusNotFound, "NOT_FOUND")
			if p.Instance != path {
				t.Errorf("instance = %q, want %q", p.Instance, path)
			}
		}
	}
	if n := len(wantData[[]obj](t, e.doKey(otherKey, http.MethodGet, "/backend/conversations", nil), http.StatusOK).Data); n != 0 {
		t.Errorf("another tenant lists %d conversations", n)
	}
	if c := convGet(t, e, convID); c["status"] != "active" || c["unread_count"] != 2.0 {
		t.Errorf("another tenant's requests changed the conversation: %v", c)
	}
}
