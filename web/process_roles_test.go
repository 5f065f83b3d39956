package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
)

// TestProcessAnswersUser: a user message with the AI active is answered; the
// body has exactly the documented members and both messages are stored with
// their statuses.
func TestProcessAnswersUser(t *testing.T) {
	p := &procProvider{}
	e := newEnvWith(t, envOpts{Provider: p})
	r := e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-u", "Olá, gostaria de saber mais"))
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var raw obj
	r.JSON(t, &raw)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"conversation_id", "lead_id", "message_id", "response", "response_message_id", "success"}
	if !slices.Equal(keys, want) {
		t.Errorf("body members = %v, want %v: %s", keys, want, r.Body)
	}
	if raw["success"] != true || raw["response"] != "You said: Olá, gostaria de saber mais" || raw["lead_id"] != "lead-u" {
		t.Errorf("body = %s", r.Body)
	}
	for _, k := range []string{"conversation_id", "message_id", "response_message_id"} {
		if !uuidv7RE.MatchString(str(t, raw, k)) {
			t.Errorf("%s = %v, want a UUIDv7", k, raw[k])
		}
	}
	if p.Calls() != 1 {
		t.Errorf("provider calls = %d, want 1", p.Calls())
	}

	// The seed-shaped list shows both, oldest first, with their statuses.
	var list []obj
	e.do(http.MethodGet, "/backend/messages?lead=lead-u", nil).JSON(t, &list)
	if len(list) != 2 {
		t.Fatalf("GET /backend/messages = %v, want 2 messages", list)
	}
	checks := []struct{ id, role, status, content string }{
		{str(t, raw, "message_id"), "user", "delivered", "Olá, gostaria de saber mais"},
		{str(t, raw, "response_message_id"), "assistant", "sent", "You said: Olá, gostaria de saber mais"},
	}
	for i, c := range checks {
		m := list[i]
		if m["id"] != c.id || m["role"] != c.role || m["status"] != c.status || m["content"] != c.content || m["message_type"] != "text" {
			t.Errorf("message %d = %v, want %+v", i, m, c)
		}
		if _, ok := m["url"]; ok {
			t.Errorf("text message %d carries url: %v", i, m)
		}
	}
	conv := wantData[obj](t, e.do(http.MethodGet, "/backend/conversations/"+str(t, raw, "conversation_id"), nil), http.StatusOK).Data
	if conv["lead_id"] != "lead-u" || conv["is_ai_active"] != true || conv["unread_count"] != 1.0 {
		t.Errorf("conversation = %v", conv)
	}
}

// TestProcessRoles: assistant and system messages are stored unanswered; a
// human message pauses the AI, later user messages are stored but not
// answered (no provider call) until the conversation is resumed.
func TestProcessRoles(t *testing.T) {
	p := &procProvider{}
	e := newEnvWith(t, envOpts{Provider: p})
	const lead = "lead-roles"
	first := procProcess(t, e, procMsg(e, lead, "first question"))
	if first.Response == nil || p.Calls() != 1 {
		t.Fatalf("first user message not answered: %+v, calls %d", first, p.Calls())
	}

	for _, role := range []string{"assistant", "system"} {
		res := procProcess(t, e, procMsg(e, lead, "a "+role+" note", obj{"role": role}))
		if res.Response != nil || res.ResponseMessageID != nil || res.Skipped != "role_not_answered" {
			t.Errorf("%s: %+v, want response null and skipped role_not_answered", role, res)
		}
		if res.ConversationID != first.ConversationID {
			t.Errorf("%s message went to conversation %s, want %s", role, res.ConversationID, first.ConversationID)
		}
	}
	if p.Calls() != 1 {
		t.Fatalf("assistant/system messages called the provider: %d calls", p.Calls())
	}

	human := procProcess(t, e, procMsg(e, lead, "Aqui é a Maria, eu assumo.", obj{"role": "human"}))
	if human.Response != nil || human.Skipped != "role_not_answered" {
		t.Errorf("human: %+v, want role_not_answered", human)
	}
	convPath := "/backend/conversations/" + first.ConversationID
	if c := wantData[obj](t, e.do(http.MethodGet, convPath, nil), http.StatusOK).Data; c["is_ai_active"] != false {
		t.Fatalf("after a human message is_ai_active = %v, want false", c["is_ai_active"])
	}
	for _, text := range []string{"still there?", "hello?"} {
		res := procProcess(t, e, procMsg(e, lead, text))
		if res.Response != nil || res.ResponseMessageID != nil || res.Skipped != "ai_paused" {
			t.Errorf("paused user message: %+v, want response null and skipped ai_paused", res)
		}
	}
	if p.Calls() != 1 {
		t.Fatalf("paused conversation called the provider: %d calls", p.Calls())
	}

	wantData[obj](t, e.do(http.MethodPut, convPath, obj{"is_ai_active": true}), http.StatusOK)
	resumed := procProcess(t, e, procMsg(e, lead, "back to the bot"))
	if resumed.Response == nil || *resumed.Response != "You said: back to the bot" || resumed.Skipped != "" {
		t.Errorf("after resume: %+v", resumed)
	}
	if p.Calls() != 2 {
		t.Errorf("provider calls = %d, want 2", p.Calls())
	}

	// Every message was stored, in order, with its status.
	msgs := procLeadMessages(t, e, lead)
	want := []struct{ role, status, content string }{
		{"user", "delivered", "first question"},
		{"assistant", "sent", "You said: first question"},
		{"assistant", "sent", "a assistant note"},
		{"system", "sent", "a system note"},
		{"human", "sent", "Aqui é a Maria, eu assumo."},
		{"user", "delivered", "still there?"},
		{"user", "delivered", "hello?"},
		{"user", "delivered", "back to the bot"},
		{"assistant", "sent", "You said: back to the bot"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("lead has %d messages, want %d: %v", len(msgs), len(want), msgs)
	}
	for i, w := range want {
		m := msgs[i]
		if m["role"] != w.role || m["status"] != w.status || m["content"] != w.content {
			t.Errorf("message %d = %v/%v/%q, want %+v", i, m["role"], m["status"], m["content"], w)
		}
	}
	// The resumed answer saw the whole history, paused messages included.
	last := p.Requests()[1]
	if n := len(last.Turns); n != 8 || last.Turns[n-1].Text != "back to the bot" || last.Turns[4].Role != ai.RoleAssistant {
		t.Errorf("resumed request turns = %+v", last.Turns)
	}
}

// TestProcessTyping: a real SSE subscriber sees typing true (live, no id)
// before the answer's new_message and typing false after it; a failing
// provider still ends with typing false.
func TestProcessTyping(t *testing.T) {
	p := &procProvider{complete: func(ctx context.Context, n int, req ai.Request) (string, error) {
		if req.UserText == "please fail" {
			return "", &ai.UpstreamError{Op: "chat", StatusCode: 500}
		}
		return "answer to " + req.UserText, nil
	}}
	e := newEnvWith(t, envOpts{Provider: p})
	s := e.openStream("/backend/conversations/stream?lead_id=lead-typing", nil)

	type step struct {
		kind   string // "typing" or the new_message role
		typing bool
	}
	collect := func(t *testing.T) []step {
		t.Helper()
		var got []step
		for {
			ev := s.Next(5*time.Second, ofType("typing", "new_message"))
			var d struct {
				ConversationID string `json:"conversation_id"`
				LeadID         string `json:"lead_id"`
				IsTyping       bool   `json:"is_typing"`
				Role           string `json:"role"`
				Message        struct {
					Role string `json:"role"`
				} `json:"message"`
			}
			if err := json.Unmarshal(ev.Body, &d); err != nil {
				t.Fatal(err)
			}
			if d.LeadID != "lead-typing" || d.ConversationID == "" {
				t.Errorf("%s event data = %s", ev.Type, ev.Body)
			}
			if ev.Type == "new_message" {
				if ev.ID == "" {
					t.Errorf("new_message without id: %+v", ev)
				}
				got = append(got, step{kind: d.Message.Role})
				continue
			}
			if ev.ID != "" || d.Role != "assistant" {
				t.Errorf("typing event id %q role %q, want no id and role assistant", ev.ID, d.Role)
			}
			got = append(got, step{kind: "typing", typing: d.IsTyping})
			if !d.IsTyping {
				return got
			}
		}
	}

	procProcess(t, e, procMsg(e, "lead-typing", "hello"))
	got := collect(t)
	want := []step{{"user", false}, {"typing", true}, {"assistant", false}, {"typing", false}}
	if !slices.Equal(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}

	r := e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-typing", "please fail"))
	wantProblem(t, r, http.StatusBadGateway, "UPSTREAM_ERROR")
	got = collect(t)
	want = []step{{"user", false}, {"typing", true}, {"typing", false}}
	if !slices.Equal(got, want) {
		t.Errorf("events with a failing provider = %+v, want %+v", got, want)
	}
}

// TestProcessHumanWithoutPause: when the assistant does not pause on human
// messages, an operator's message leaves the AI answering.
func TestProcessHumanWithoutPause(t *testing.T) {
	p := &procProvider{}
	e := newEnvWith(t, envOpts{Provider: p})
	list := wantData[[]obj](t, e.do(http.MethodGet, "/backend/assistants", nil), http.StatusOK).Data
	wantData[obj](t, e.do(http.MethodPut, "/backend/assistants/"+str(t, list[0], "id"), obj{"pause_on_human": false}), http.StatusOK)
	human := procProcess(t, e, procMsg(e, "lead-np", "operator here", obj{"role": "human"}))
	if human.Skipped != "role_not_answered" || p.Calls() != 0 {
		t.Errorf("human: %+v, %d calls", human, p.Calls())
	}
	res := procProcess(t, e, procMsg(e, "lead-np", "and the bot?"))
	if res.Response == nil || res.Skipped != "" || p.Calls() != 1 {
		t.Errorf("user after a human message without pause_on_human: %+v, %d calls", res, p.Calls())
	}
}
