package web_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAgentBots: GET /bot lists every assistant as {"id","name","description",
// "presentation"}; GET /bot/presentation/{botId} is {"id","presentation"}.
func TestAgentBots(t *testing.T) {
	e := newEnv(t)
	def := agentBot(t, e)
	zeta := wantData[obj](t, e.do(http.MethodPost, "/backend/assistants",
		obj{"name": "Zeta", "description": "sells things", "presentation": "Olá, eu sou a Zeta!"}), http.StatusCreated).Data

	bots := agentJSON[[]obj](t, e.do(http.MethodGet, "/bot", nil), http.StatusOK)
	if len(bots) != 2 {
		t.Fatalf("GET /bot = %v, want the default assistant and Zeta", bots)
	}
	byID := map[string]obj{}
	for _, b := range bots {
		agentKeys(t, "bot", b, "id", "name", "description", "presentation")
		byID[str(t, b, "id")] = b
	}
	want := obj{"id": zeta["id"], "name": "Zeta", "description": "sells things", "presentation": "Olá, eu sou a Zeta!"}
	if !reflect.DeepEqual(byID[str(t, zeta, "id")], want) {
		t.Errorf("Zeta listed as %v, want %v", byID[str(t, zeta, "id")], want)
	}
	if byID[def] == nil {
		t.Errorf("default bot %s missing from %v", def, bots)
	}

	got := agentJSON[obj](t, e.do(http.MethodGet, "/bot/presentation/"+str(t, zeta, "id"), nil), http.StatusOK)
	if !reflect.DeepEqual(got, obj{"id": zeta["id"], "presentation": "Olá, eu sou a Zeta!"}) {
		t.Errorf("presentation = %v", got)
	}
	wantProblem(t, e.do(http.MethodGet, "/bot/presentation/no-such-bot", nil), http.StatusNotFound, "NOT_FOUND")
}

// TestAgentCreateConversation: POST /conversation/create/{botId} answers 201
// {"id"}; the conversation has a lead (new and anonymous, or meta.lead_id,
// created or reused) and shows on the Leavo routes and the event stream.
func TestAgentCreateConversation(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	sse := e.openStream("/backend/conversations/stream", nil)

	plain := agentCreate(t, e, bot, nil)
	ev := sse.Next(5*time.Second, agentOfConv(plain, "conversation_update"))
	if d := agentEvent(t, ev); d["lead_id"] == "" || d["lead_id"] == nil || ev.ID == "" {
		t.Errorf("conversation_update of a new conversation = %s (id %q), want its lead and an event id", ev.Body, ev.ID)
	}
	conv := wantData[obj](t, e.do(http.MethodGet, "/backend/conversations/"+plain, nil), http.StatusOK).Data
	if conv["assistant_id"] != bot || conv["status"] != "active" || conv["is_ai_active"] != true {
		t.Errorf("new conversation on the Leavo route = %v", conv)
	}
	wantData[obj](t, e.do(http.MethodGet, "/backend/leads/"+str(t, conv, "lead_id"), nil), http.StatusOK)
	list := wantData[[]obj](t, e.do(http.MethodGet, "/backend/conversations", nil), http.StatusOK)
	if len(list.Data) != 1 || list.Data[0]["id"] != plain {
		t.Errorf("GET /backend/conversations = %v, want the new conversation", list.Data)
	}

	// meta.lead_id creates that lead the first time and reuses it after.
	first := agentCreate(t, e, bot, obj{"meta": obj{"lead_id": "lead-42", "origin": "site"}})
	second := agentCreate(t, e, bot, obj{"meta": obj{"lead_id": "lead-42"}})
	if first == second {
		t.Fatal("two creates gave one conversation")
	}
	wantData[obj](t, e.do(http.MethodGet, "/backend/leads/lead-42", nil), http.StatusOK)
	byLead := wantData[[]obj](t, e.do(http.MethodGet, "/backend/conversations?lead_id=lead-42", nil), http.StatusOK)
	if byLead.Pagination.Total != 2 {
		t.Errorf("conversations of lead-42 = %v, want both", byLead.Data)
	}
	// An existing lead is used as is, not duplicated.
	wantData[obj](t, e.do(http.MethodPost, "/backend/leads", obj{"id": "known-1", "name": "Known"}), http.StatusCreated)
	known := agentCreate(t, e, bot, obj{"meta": obj{"lead_id": "known-1"}})
	if c := wantData[obj](t, e.do(http.MethodGet, "/backend/conversations/"+known, nil), http.StatusOK).Data; c["lead_id"] != "known-1" {
		t.Errorf("conversation for known-1 has lead %v", c["lead_id"])
	}
	leads := wantData[[]obj](t, e.do(http.MethodGet, "/backend/leads", nil), http.StatusOK)
	if leads.Pagination.Total != 3 {
		t.Errorf("%d leads, want 3 (anonymous, lead-42, known-1)", leads.Pagination.Total)
	}
	meta := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+first, nil), http.StatusOK)["meta"]
	if !reflect.DeepEqual(meta, obj{"lead_id": "lead-42", "origin": "site"}) {
		t.Errorf("meta = %v, want what create sent", meta)
	}

	wantProblem(t, e.do(http.MethodPost, "/conversation/create/no-such-bot", obj{}), http.StatusNotFound, "NOT_FOUND")
	wantFields(t, e.do(http.MethodPost, "/conversation/create/"+bot, obj{"meta": "x"}), "meta")
	wantFields(t, e.do(http.MethodPost, "/conversation/create/"+bot, obj{"meta": obj{"lead_id": "has spaces"}}), "meta.lead_id")
}

// TestAgentConversationAndMessages: GET /conversation/{id} and
// GET /conversation/message/{id} have exactly the shapes of API.md §4.
func TestAgentConversationAndMessages(t *testing.T) {
	e := newEnv(t)
	asst := wantData[obj](t, e.do(http.MethodPost, "/backend/assistants",
		obj{"name": "Helper", "description": "answers"}), http.StatusCreated).Data
	id := agentCreate(t, e, str(t, asst, "id"), obj{"meta": obj{"source": "web", "n": 3}})

	got := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+id, nil), http.StatusOK)
	agentKeys(t, "GET /conversation/{id}", got, agentMetaKeys...)
	if got["id"] != id || got["botname"] != "Helper" || got["description"] != "answers" || got["survey"] != 0.0 ||
		!reflect.DeepEqual(got["meta"], obj{"source": "web", "n": 3.0}) {
		t.Errorf("GET /conversation/{id} = %v", got)
	}
	if ch, _ := got["channel"].(string); ch == "" {
		t.Errorf("channel = %#v, want a string", got["channel"])
	}
	if msgs := agentMessages(t, e, id); len(msgs) != 0 {
		t.Errorf("messages of a new conversation = %v, want []", msgs)
	}
	if r := e.do(http.MethodGet, "/conversation/message/"+id, nil); string(r.Body) != "[]\n" && string(r.Body) != "[]" {
		t.Errorf("empty message list = %q, want []", r.Body)
	}

	answer := agentComplete(t, e, id, "hello there")
	agentComplete(t, e, id, "second")
	msgs := agentMessages(t, e, id)
	want := []struct{ role, text, status string }{
		{"user", "hello there", "delivered"}, {"assistant", "You said: hello there", "sent"},
		{"user", "second", "delivered"}, {"assistant", "You said: second", "sent"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("messages = %+v, want %d", msgs, len(want))
	}
	for i, w := range want {
		m := msgs[i]
		if m.Role != w.role || m.Text != w.text || m.Status != w.status || m.MessageType != "text" || m.URL != nil ||
			m.Feedback != nil || !uuidv7RE.MatchString(m.ID) || !timestampRE.MatchString(m.CreatedAt) {
			t.Errorf("message %d = %+v, want %+v", i, m, w)
		}
		if i > 0 && m.CreatedAt < msgs[i-1].CreatedAt {
			t.Errorf("message %d is older than message %d: not oldest first", i, i-1)
		}
	}
	if msgs[1].ID != answer {
		t.Errorf("answer id %s, complete said %s", msgs[1].ID, answer)
	}
	for _, path := range []string{"/conversation/no-such-id", "/conversation/message/no-such-id"} {
		wantProblem(t, e.do(http.MethodGet, path, nil), http.StatusNotFound, "NOT_FOUND")
	}
}

// TestAgentUpdateMeta: PUT /conversation/update/{id} merges its pairs into
// meta, overwriting existing keys, and the new values become searchable.
func TestAgentUpdateMeta(t *testing.T) {
	e := newEnv(t)
	id := agentCreate(t, e, agentBot(t, e), obj{"meta": obj{"a": "1", "b": "2"}})
	r := e.do(http.MethodPut, "/conversation/update/"+id, obj{"b": "20", "c": "fresh-value"})
	if got := agentJSON[obj](t, r, http.StatusOK); !reflect.DeepEqual(got, obj{"message": "conversation updated"}) {
		t.Errorf("update answered %v", got)
	}
	meta := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+id, nil), http.StatusOK)["meta"]
	if !reflect.DeepEqual(meta, obj{"a": "1", "b": "20", "c": "fresh-value"}) {
		t.Errorf("meta after update = %v", meta)
	}
	if ids := agentSearch(t, e, url.Values{"meta": {"fresh-val"}}); !reflect.DeepEqual(ids, []string{id}) {
		t.Errorf("meta search for the updated value = %v, want [%s]", ids, id)
	}
	wantProblem(t, e.do(http.MethodPut, "/conversation/update/no-such-id", obj{"a": "b"}), http.StatusNotFound, "NOT_FOUND")
	wantProblem(t, e.do(http.MethodPut, "/conversation/update/"+id, "[1]"), http.StatusBadRequest, "VALIDATION_ERROR")
}

// TestAgentComplete: POST /conversation/complete/{id} answers
// {"id","sendMensages":[{"id","text","role":"assistant","createdAt"}]}.
func TestAgentComplete(t *testing.T) {
	e := newEnv(t)
	id := agentCreate(t, e, agentBot(t, e), nil)
	got := agentJSON[obj](t, e.do(http.MethodPost, "/conversation/complete/"+id, obj{"text": "hi bot"}), http.StatusOK)
	agentKeys(t, "complete answer", got, "id", "sendMensages")
	sent, _ := got["sendMensages"].([]any)
	if len(sent) != 1 {
		t.Fatalf("sendMensages = %v, want one message", got["sendMensages"])
	}
	m := sent[0].(obj)
	agentKeys(t, "sendMensages[0]", m, "id", "text", "role", "createdAt")
	if m["id"] != got["id"] || m["role"] != "assistant" || m["text"] != "You said: hi bot" ||
		!timestampRE.MatchString(str(t, m, "createdAt")) {
		t.Errorf("sendMensages[0] = %v (id %v)", m, got["id"])
	}
	stored := agentMessages(t, e, id)
	if len(stored) != 2 || stored[1].ID != got["id"] || stored[1].Text != m["text"] || stored[1].CreatedAt != m["createdAt"] {
		t.Errorf("stored messages %+v do not match the answer %v", stored, m)
	}

	for _, body := range []any{obj{"text": ""}, obj{"text": "   "}, obj{}, obj{"text": 5}} {
		wantFields(t, e.do(http.MethodPost, "/conversation/complete/"+id, body), "text")
	}
	wantProblem(t, e.do(http.MethodPost, "/conversation/complete/no-such-id", obj{"text": "hi"}), http.StatusNotFound, "NOT_FOUND")
	if n := len(agentMessages(t, e, id)); n != 2 {
		t.Errorf("refused requests stored messages: %d, want 2", n)
	}
}

// TestAgentPausedAI: with is_ai_active false the text is stored and nothing
// is answered: complete gives {"id":null,"sendMensages":[]}, stream sends
// nothing (text) or only {"done":true,"id":null} (SSE).
func TestAgentPausedAI(t *testing.T) {
	e := newEnv(t)
	id := agentCreate(t, e, agentBot(t, e), nil)
	wantData[obj](t, e.do(http.MethodPut, "/backend/conversations/"+id, obj{"is_ai_active": false}), http.StatusOK)

	got := agentJSON[obj](t, e.do(http.MethodPost, "/conversation/complete/"+id, obj{"text": "one"}), http.StatusOK)
	if !reflect.DeepEqual(got, obj{"id": nil, "sendMensages": []any{}}) {
		t.Errorf("complete with the AI paused = %v", got)
	}
	r := e.do(http.MethodPost, "/conversation/stream/"+id, obj{"text": "two"})
	if r.Status != http.StatusOK || len(r.Body) != 0 {
		t.Errorf("text stream with the AI paused = %d %q, want 200 and nothing", r.Status, r.Body)
	}
	r = e.raw(http.MethodPost, "/conversation/stream/"+id, strings.NewReader(`{"text":"three"}`),
		map[string]string{"Authorization": "Bearer " + e.key, "Content-Type": "application/json", "Accept": "text/event-stream"})
	if r.Status != http.StatusOK || string(r.Body) != "data: {\"done\":true,\"id\":null}\n\n" {
		t.Errorf("SSE stream with the AI paused = %d %q", r.Status, r.Body)
	}
	msgs := agentMessages(t, e, id)
	if len(msgs) != 3 {
		t.Fatalf("messages = %+v, want the three user texts", msgs)
	}
	for i, m := range msgs {
		if m.Role != "user" || m.Text != []string{"one", "two", "three"}[i] {
			t.Errorf("message %d = %+v", i, m)
		}
	}
}
