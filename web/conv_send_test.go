package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// convWantNewMessage checks a new_message event against the stored message m.
func convWantNewMessage(t *testing.T, ev sseEvent, m obj) {
	t.Helper()
	want := obj{}
	for _, k := range []string{"id", "content", "role", "message_type", "url", "status", "timestamp"} {
		want[k] = m[k]
	}
	d := convWantEvent(t, ev, "new_message", true, obj{"conversation_id": m["conversation_id"], "lead_id": m["lead_id"],
		"channel_id": m["channel_id"], "message": want})
	convWantKeys(t, "new_message message", convObj(t, d, "message"), "id", "content", "role", "message_type", "url", "status", "timestamp")
}

// TestConvSend: POST /backend/messages/send stores an operator message
// (human by default, pending), answers 201 with it, emits new_message, and a
// human message pauses the AI only when the assistant has pause_on_human.
func TestConvSend(t *testing.T) {
	e := newEnv(t)
	lead := convLead(t, e, obj{"id": "send-lead"})
	convID := str(t, convProcess(t, e, lead, "user", "hi", ""), "conversation_id")
	s := e.openStream("/backend/conversations/stream", nil)

	// assistant role: stored, no pause, no conversation_update.
	a := convSend(t, e, obj{"lead_id": lead, "content": "from the bot", "role": "assistant"})
	if a["role"] != "assistant" || a["status"] != "pending" || a["conversation_id"] != convID {
		t.Errorf("assistant send = %v", a)
	}
	convWantNewMessage(t, convNext(s, convID, "new_message", "conversation_update"), a)

	m := convSend(t, e, obj{"lead_id": lead, "content": "Olá, aqui é a Maria"})
	for _, k := range []string{"id", "conversation_id", "lead_id", "role", "content", "message_type", "url", "extracted_text", "status", "feedback", "timestamp"} {
		if _, ok := m[k]; !ok {
			t.Errorf("message lacks %q: %v", k, m)
		}
	}
	if !uuidv7RE.MatchString(str(t, m, "id")) || m["conversation_id"] != convID || m["lead_id"] != lead || m["role"] != "human" ||
		m["content"] != "Olá, aqui é a Maria" || m["message_type"] != "text" || m["status"] != "pending" || m["url"] != nil ||
		!timestampRE.MatchString(str(t, m, "timestamp")) {
		t.Errorf("sent message = %v", m)
	}
	convWantNewMessage(t, convNext(s, convID, "new_message", "conversation_update"), m)
	convWantEvent(t, convNext(s, convID, "new_message", "conversation_update"), "conversation_update", true,
		obj{"conversation_id": convID, "lead_id": lead, "is_ai_active": false, "unread_count": 1, "status": "active"})
	if c := convGet(t, e, convID); c["is_ai_active"] != false {
		t.Errorf("after a human message is_ai_active = %v, want false", c["is_ai_active"])
	}
	// The AI is paused: a user message is stored and not answered.
	if res := convProcess(t, e, lead, "user", "still there?", ""); res["response"] != nil || res["skipped"] != "ai_paused" {
		t.Errorf("process after the pause = %v, want skipped ai_paused", res)
	}

	// With pause_on_human off on the default assistant, a human message does
	// not pause: the next event of the conversation after new_message is the
	// marker typing, not a conversation_update.
	def := convDefaultAssistant(t, e)
	if a := wantData[obj](t, e.do(http.MethodPut, "/backend/assistants/"+def, obj{"pause_on_human": false}), http.StatusOK).Data; a["pause_on_human"] != false {
		t.Fatalf("PUT pause_on_human false = %v", a)
	}
	lead2 := convLead(t, e, obj{"id": "send-lead-2"})
	m2 := convSend(t, e, obj{"lead_id": lead2, "content": "operator here", "role": "human"})
	conv2 := str(t, m2, "conversation_id")
	e.do(http.MethodPost, "/backend/conversations/"+conv2+"/typing", obj{"is_typing": true, "role": "human"})
	convWantNewMessage(t, convNext(s, conv2, "new_message", "conversation_update", "typing"), m2)
	if ev := convNext(s, conv2, "new_message", "conversation_update", "typing"); ev.Type != "typing" {
		t.Errorf("after a human message without pause_on_human got %s %s, want no conversation_update", ev.Type, ev.Data)
	}
	if c := convGet(t, e, conv2); c["is_ai_active"] != true {
		t.Errorf("is_ai_active = %v, want true (pause_on_human false)", c["is_ai_active"])
	}
	if res := convProcess(t, e, lead2, "user", "ping", ""); res["response"] != "You said: ping" {
		t.Errorf("process = %v, want the AI to answer", res)
	}

	ch := convChannel(t, e, "wa", "")
	if m := convSend(t, e, obj{"lead_id": lead, "content": "on channel", "channel_id": ch}); m["channel_id"] != ch {
		t.Errorf("send with channel_id = %v", m)
	}
	bad := []struct {
		body   string
		fields []string
	}{
		{`{"lead_id":"send-lead","content":"x","role":"user"}`, []string{"role"}},
		{`{"lead_id":"send-lead","content":"x","role":"system"}`, []string{"role"}},
		{`{"lead_id":"send-lead","content":"x","role":"bot"}`, []string{"role"}},
		{`{"content":"x"}`, []string{"lead_id"}},
		{`{"lead_id":"send-lead","content":"  "}`, []string{"content"}},
		{`{"role":"user"}`, []string{"lead_id", "content", "role"}},
		{`{"lead_id":"send-lead","content":"` + strings.Repeat("x", 64<<10+1) + `"}`, []string{"content"}},
		{`{"lead_id":"send-lead","content":"x","channel_id":"0190a0b0-0000-7000-8000-000000000000"}`, []string{"channel_id"}},
		{`{"lead_id":5,"content":true}`, []string{"lead_id", "content"}},
		{`{"lead_id":5,"content":"x","role":"user"}`, []string{"lead_id", "role"}},
	}
	for _, tc := range bad {
		t.Run(tc.body[:min(len(tc.body), 60)], func(t *testing.T) {
			wantFields(t, e.do(http.MethodPost, "/backend/messages/send", tc.body), tc.fields...)
		})
	}
	wantProblem(t, e.do(http.MethodPost, "/backend/messages/send", obj{"lead_id": "nobody", "content": "x"}), http.StatusNotFound, "NOT_FOUND")
	_, otherKey := storetest.Tenant(t, e.store, "other")
	wantProblem(t, e.doKey(otherKey, http.MethodPost, "/backend/messages/send", obj{"lead_id": lead, "content": "x"}), http.StatusNotFound, "NOT_FOUND")
}

// TestConvSendMedia: POST /backend/messages/media stores the caption as
// content and the url as given, never fetching it; type and url are checked.
func TestConvSendMedia(t *testing.T) {
	e := newEnv(t)
	lead := convLead(t, e, obj{"id": "media-lead"})
	var hits atomic.Int64
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer media.Close()
	s := e.openStream("/backend/conversations/stream"+convQuery("types", "new_message"), nil)

	for _, typ := range []string{"image", "audio", "document", "video"} {
		u := media.URL + "/file." + typ
		m := wantData[obj](t, e.do(http.MethodPost, "/backend/messages/media",
			obj{"lead_id": lead, "type": typ, "url": u, "caption": "a " + typ, "filename": "f." + typ}), http.StatusCreated).Data
		if m["message_type"] != typ || m["url"] != u || m["content"] != "a "+typ || m["role"] != "human" || m["status"] != "pending" ||
			m["lead_id"] != lead {
			t.Errorf("media %s = %v", typ, m)
		}
		convWantNewMessage(t, s.Next(convWait, nil), m)
	}
	m := wantData[obj](t, e.do(http.MethodPost, "/backend/messages/media",
		obj{"lead_id": lead, "type": "image", "url": "https://cdn.example.com/x.png", "role": "assistant"}), http.StatusCreated).Data
	if m["content"] != "" || m["role"] != "assistant" {
		t.Errorf("media without caption = %v, want empty content and role assistant", m)
	}
	list := convBareArray(t, e.do(http.MethodGet, "/backend/messages"+convQuery("lead", lead), nil))
	if len(list) != 5 || list[0]["url"] != media.URL+"/file.image" || list[4]["url"] != "https://cdn.example.com/x.png" {
		t.Errorf("listed media = %v", list)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server fetched the operator's media url %d times", n)
	}

	bad := []struct {
		body   obj
		fields []string
	}{
		{obj{"lead_id": lead, "type": "sticker", "url": "https://x.example/a"}, []string{"type"}},
		{obj{"lead_id": lead, "type": "pdf", "url": "https://x.example/a"}, []string{"type"}},
		{obj{"lead_id": lead, "type": "text", "url": "https://x.example/a"}, []string{"type"}},
		{obj{"lead_id": lead, "url": "https://x.example/a"}, []string{"type"}},
		{obj{"lead_id": lead, "type": "image"}, []string{"url"}},
		{obj{"lead_id": lead, "type": "image", "url": "ftp://x.example/a"}, []string{"url"}},
		{obj{"lead_id": lead, "type": "image", "url": "not a url"}, []string{"url"}},
		{obj{"lead_id": lead, "type": "image", "url": "https://x.example/a", "role": "user"}, []string{"role"}},
		{obj{"type": "gif", "url": ""}, []string{"lead_id", "type", "url"}},
		{obj{"lead_id": 5, "type": "gif", "url": 7, "caption": strings.Repeat("c", 64<<10+1)}, []string{"lead_id", "type", "url", "caption"}},
	}
	for _, tc := range bad {
		name := mustJSON(t, tc.body)
		t.Run(name[:min(len(name), 80)], func(t *testing.T) {
			wantFields(t, e.do(http.MethodPost, "/backend/messages/media", tc.body), tc.fields...)
		})
	}
	wantProblem(t, e.do(http.MethodPost, "/backend/messages/media", obj{"lead_id": "nobody", "type": "image", "url": "https://x.example/a"}),
		http.StatusNotFound, "NOT_FOUND")
}

// TestConvMessageStatus: PUT /backend/messages/{id}/status only moves
// forward (failed from any), a backward move is 200 and unchanged with no
// event, and each move emits message_status with the message id.
func TestConvMessageStatus(t *testing.T) {
	e := newEnv(t)
	lead := convLead(t, e, obj{"id": "status-lead"})
	m := convSend(t, e, obj{"lead_id": lead, "content": "hello"})
	id, convID := str(t, m, "id"), str(t, m, "conversation_id")
	path := "/backend/messages/" + id + "/status"
	s := e.openStream("/backend/conversations/stream"+convQuery("types", "message_status,typing"), nil)

	steps := []struct {
		status, want string
		emits        bool
	}{
		{"sent", "sent", true},
		{"sent", "sent", false},
		{"read", "read", true}, // skipping delivered is still forward
		{"delivered", "read", false},
		{"sent", "read", false},
		{"failed", "failed", true},
		{"read", "failed", false},
		{"failed", "failed", false},
	}
	for _, st := range steps {
		got := wantData[obj](t, e.do(http.MethodPut, path, obj{"status": st.status}), http.StatusOK).Data
		if got["id"] != id || got["status"] != st.want || got["content"] != "hello" {
			t.Errorf("PUT %s = %v, want status %s", st.status, got, st.want)
		}
		// A typing marker after each PUT tells "no event" from "not yet".
		e.do(http.MethodPost, "/backend/conversations/"+convID+"/typing", obj{"is_typing": true, "role": "user"})
		ev := convNext(s, convID, "message_status", "typing")
		if st.emits {
			convWantEvent(t, ev, "message_status", true, obj{"conversation_id": convID, "lead_id": lead, "message_id": id, "status": st.want})
			ev = convNext(s, convID, "message_status", "typing")
		}
		if ev.Type != "typing" {
			t.Errorf("PUT %s (stays %s) emitted %s", st.status, st.want, ev.Data)
		}
	}

	// Delivered then read from pending, on another message.
	m2 := str(t, convSend(t, e, obj{"lead_id": lead, "content": "two"}), "id")
	for _, st := range []string{"delivered", "read"} {
		if got := wantData[obj](t, e.do(http.MethodPut, "/backend/messages/"+m2+"/status", obj{"status": st}), http.StatusOK).Data; got["status"] != st {
			t.Errorf("PUT %s = %v", st, got)
		}
		convWantEvent(t, convNext(s, convID, "message_status"), "message_status", true,
			obj{"conversation_id": convID, "lead_id": lead, "message_id": m2, "status": st})
	}
	msgs := convBareArray(t, e.do(http.MethodGet, "/backend/messages"+convQuery("lead", lead), nil))
	if len(msgs) != 2 || msgs[0]["status"] != "failed" || msgs[1]["status"] != "read" {
		t.Errorf("stored statuses = %v", msgs)
	}

	for _, bad := range []string{`{"status":"pending"}`, `{"status":"seen"}`, `{}`, `{"status":"READ"}`, `{"status":3}`} {
		wantFields(t, e.do(http.MethodPut, path, bad), "status")
	}
	wantProblem(t, e.do(http.MethodPut, "/backend/messages/0190a0b0-0000-7000-8000-000000000000/status", obj{"status": "sent"}),
		http.StatusNotFound, "NOT_FOUND")
	_, otherKey := storetest.Tenant(t, e.store, "other")
	wantProblem(t, e.doKey(otherKey, http.MethodPut, "/backend/messages/"+m2+"/status", obj{"status": "failed"}), http.StatusNotFound, "NOT_FOUND")
}
