package web_test

import (
	"net/http"
	"testing"
)

// convWantEvent checks an event's type, that it carries an id exactly when
// stored, and the exact keys and values of its data.
func convWantEvent(t *testing.T, ev sseEvent, typ string, stored bool, want obj) obj {
	t.Helper()
	if ev.Type != typ {
		t.Fatalf("event type = %q, want %q (%s)", ev.Type, typ, ev.Data)
	}
	if stored && ev.Seq() <= 0 {
		t.Errorf("%s event has id %q, want a positive sequence", typ, ev.ID)
	}
	if !stored && ev.ID != "" {
		t.Errorf("live-only %s event has id %q", typ, ev.ID)
	}
	d := convData(t, ev)
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	convWantKeys(t, typ+" data", d, keys...)
	for k, v := range want {
		if mustJSON(t, d[k]) != mustJSON(t, v) {
			t.Errorf("%s data %s = %v, want %v", typ, k, d[k], v)
		}
	}
	return d
}

// TestConvUpdate: PUT status / is_ai_active / meta (merged, null deletes)
// answers the new state and emits status_change and conversation_update on a
// real stream; a PUT that changes nothing emits nothing.
func TestConvUpdate(t *testing.T) {
	e := newEnv(t)
	lead := "5511933334444"
	convID := str(t, convProcess(t, e, lead, "user", "hi", ""), "conversation_id")
	path := "/backend/conversations/" + convID
	s := e.openStream("/backend/conversations/stream", nil)
	upd := func(is bool, status string) obj {
		return obj{"conversation_id": convID, "lead_id": lead, "is_ai_active": is, "unread_count": 1, "status": status}
	}

	c := wantData[obj](t, e.do(http.MethodPut, path, obj{"meta": obj{"a": 1, "b": "x", "nested": obj{"k": []any{1, "2"}}}}), http.StatusOK).Data
	if mustJSON(t, c["meta"]) != `{"a":1,"b":"x","nested":{"k":[1,"2"]}}` {
		t.Errorf("meta = %v", c["meta"])
	}
	convWantEvent(t, convNext(s, convID, "conversation_update", "status_change"), "conversation_update", true, upd(true, "active"))

	c = wantData[obj](t, e.do(http.MethodPut, path, obj{"meta": obj{"a": nil, "b": "y", "c": true}}), http.StatusOK).Data
	if mustJSON(t, c["meta"]) != `{"b":"y","c":true,"nested":{"k":[1,"2"]}}` {
		t.Errorf("after merge meta = %v, want a deleted, b replaced, c added, nested kept", c["meta"])
	}
	convWantEvent(t, convNext(s, convID, "conversation_update", "status_change"), "conversation_update", true, upd(true, "active"))
	if got := convGet(t, e, convID); mustJSON(t, got["meta"]) != mustJSON(t, c["meta"]) {
		t.Errorf("GET meta = %v, want %v", got["meta"], c["meta"])
	}

	// Nothing changes: no event. The next event must be the one of the
	// following PUT, which is told apart by is_ai_active.
	for _, noop := range []obj{{}, {"is_ai_active": true}, {"status": "active"}, {"meta": nil}} {
		got := wantData[obj](t, e.do(http.MethodPut, path, noop), http.StatusOK).Data
		if got["is_ai_active"] != true || got["status"] != "active" {
			t.Errorf("PUT %v = %v", noop, got)
		}
	}
	c = wantData[obj](t, e.do(http.MethodPut, path, obj{"is_ai_active": false}), http.StatusOK).Data
	if c["is_ai_active"] != false || c["status"] != "active" || c["unread_count"] != 1.0 {
		t.Errorf("PUT is_ai_active false = %v", c)
	}
	convWantEvent(t, convNext(s, convID, "conversation_update", "status_change"), "conversation_update", true, upd(false, "active"))

	c = wantData[obj](t, e.do(http.MethodPut, path, obj{"status": "archived"}), http.StatusOK).Data
	if c["status"] != "archived" || c["is_ai_active"] != false {
		t.Errorf("PUT archived = %v", c)
	}
	sc := convNext(s, convID, "conversation_update", "status_change")
	convWantEvent(t, sc, "status_change", true, obj{"conversation_id": convID, "lead_id": lead, "status": "archived"})
	cu := convNext(s, convID, "conversation_update", "status_change")
	convWantEvent(t, cu, "conversation_update", true, upd(false, "archived"))
	if cu.Seq() <= sc.Seq() {
		t.Errorf("ids %d then %d, want increasing", sc.Seq(), cu.Seq())
	}

	// Status and is_ai_active in one PUT: one status_change, one update.
	wantData[obj](t, e.do(http.MethodPut, path, obj{"status": "active", "is_ai_active": true}), http.StatusOK)
	convWantEvent(t, convNext(s, convID, "conversation_update", "status_change"), "status_change", true,
		obj{"conversation_id": convID, "lead_id": lead, "status": "active"})
	convWantEvent(t, convNext(s, convID, "conversation_update", "status_change"), "conversation_update", true, upd(true, "active"))

	bad := []struct {
		body   string
		fields []string
	}{
		{`{"status":"closed"}`, []string{"status"}},
		{`{"status":""}`, []string{"status"}},
		{`{"is_ai_active":"no"}`, []string{"is_ai_active"}},
		{`{"meta":"x"}`, []string{"meta"}},
		{`{"meta":[1]}`, []string{"meta"}},
		{`{"status":7,"is_ai_active":1}`, []string{"status", "is_ai_active"}},
		{`{"status":"closed","is_ai_active":"x","meta":5}`, []string{"status", "is_ai_active", "meta"}},
	}
	for _, tc := range bad {
		t.Run(tc.body, func(t *testing.T) { wantFields(t, e.do(http.MethodPut, path, tc.body), tc.fields...) })
	}
	if got := convGet(t, e, convID); got["status"] != "active" || got["is_ai_active"] != true || mustJSON(t, got["meta"]) != mustJSON(t, c["meta"]) {
		t.Errorf("refused PUTs changed the conversation: %v", got)
	}
}

// TestConvReadAndUnread: each stored user message adds one to unread_count
// (nothing else does); POST /read zeroes it, marks the user messages read and
// emits conversation_update; counting restarts after it.
func TestConvReadAndUnread(t *testing.T) {
	e := newEnv(t)
	lead := "5511955556666"
	convID := str(t, convProcess(t, e, lead, "user", "m1", ""), "conversation_id")
	convProcess(t, e, lead, "user", "m2", "")
	convProcess(t, e, lead, "system", "note", "")
	convProcess(t, e, lead, "assistant", "from the gateway", "")
	convSend(t, e, obj{"lead_id": lead, "content": "operator", "role": "assistant"})
	if c := convGet(t, e, convID); c["unread_count"] != 2.0 {
		t.Fatalf("unread_count = %v after 2 user messages (and AI, system, assistant ones), want 2", c["unread_count"])
	}
	s := e.openStream("/backend/conversations/"+convID+"/stream", nil)

	c := wantData[obj](t, e.do(http.MethodPost, "/backend/conversations/"+convID+"/read", nil), http.StatusOK).Data
	if c["id"] != convID || c["unread_count"] != 0.0 {
		t.Errorf("POST /read = %v, want unread_count 0", c)
	}
	convWantEvent(t, convNext(s, convID, "conversation_update"), "conversation_update", true,
		obj{"conversation_id": convID, "lead_id": lead, "is_ai_active": true, "unread_count": 0, "status": "active"})

	msgs := convBareArray(t, e.do(http.MethodGet, "/backend/messages"+convQuery("lead", lead), nil))
	if len(msgs) != 7 {
		t.Fatalf("messages = %v, want 7 (2 user, 2 answers, system, assistant, operator)", msgs)
	}
	for _, m := range msgs {
		want := "sent" // answers, system and assistant messages of /ai/process
		switch {
		case m["role"] == "user":
			want = "read"
		case m["content"] == "operator":
			want = "pending"
		}
		if m["status"] != want {
			t.Errorf("%v %q: status %v, want %s", m["role"], m["content"], m["status"], want)
		}
	}

	// Counting restarts after the read; a new user message is delivered.
	convProcess(t, e, lead, "user", "m3", "")
	ev := convNext(s, convID, "conversation_update")
	if d := convData(t, ev); d["unread_count"] != 1.0 {
		t.Errorf("conversation_update after a new user message: %v, want unread_count 1", d)
	}
	if c := convGet(t, e, convID); c["unread_count"] != 1.0 {
		t.Errorf("unread_count = %v after one message since the read, want 1", c["unread_count"])
	}
	msgs = convBareArray(t, e.do(http.MethodGet, "/backend/messages"+convQuery("lead", lead, "limit", "100"), nil))
	if m := msgs[len(msgs)-2]; m["content"] != "m3" || m["status"] != "delivered" {
		t.Errorf("new user message = %v, want status delivered", m)
	}
	// Reading again reads it too, and a read of a read conversation is fine.
	for range 2 {
		c = wantData[obj](t, e.do(http.MethodPost, "/backend/conversations/"+convID+"/read", nil), http.StatusOK).Data
		if c["unread_count"] != 0.0 {
			t.Errorf("unread_count = %v, want 0", c["unread_count"])
		}
	}
	msgs = convBareArray(t, e.do(http.MethodGet, "/backend/messages"+convQuery("lead", lead, "limit", "100"), nil))
	if m := msgs[len(msgs)-2]; m["status"] != "read" {
		t.Errorf("m3 after the second read = %v", m)
	}
}

// TestConvTyping: POST /typing publishes a live typing event (no id) with
// the lead's and conversation's ids; it is never replayed.
func TestConvTyping(t *testing.T) {
	e := newEnv(t)
	lead := "5511977778888"
	convID := str(t, convProcess(t, e, lead, "user", "hi", ""), "conversation_id")
	s := e.openStream("/backend/conversations/stream", nil)
	path := "/backend/conversations/" + convID + "/typing"

	cases := []struct {
		body obj
		want obj
	}{
		{obj{"is_typing": true, "role": "user"}, obj{"is_typing": true, "role": "user"}},
		{obj{"is_typing": false, "role": "user"}, obj{"is_typing": false, "role": "user"}},
		{obj{"is_typing": true, "role": "human"}, obj{"is_typing": true, "role": "human"}},
	}
	for _, tc := range cases {
		r := e.do(http.MethodPost, path, tc.body)
		if r.Status != http.StatusOK {
			t.Fatalf("POST typing %v = %d: %s", tc.body, r.Status, r.Body)
		}
		want := obj{"conversation_id": convID, "lead_id": lead}
		for k, v := range tc.want {
			want[k] = v
		}
		convWantEvent(t, convNext(s, convID, "typing"), "typing", false, want)
	}

	bad := []struct {
		body   string
		fields []string
	}{
		{`{"role":"user"}`, []string{"is_typing"}},
		{`{"is_typing":"yes","role":"user"}`, []string{"is_typing"}},
		{`{"is_typing":true,"role":"system"}`, []string{"role"}},
		{`{"is_typing":true,"role":"bot"}`, []string{"role"}},
		{`{"is_typing":"yes","role":"system"}`, []string{"is_typing", "role"}},
		{`{"role":5}`, []string{"is_typing", "role"}},
	}
	for _, tc := range bad {
		t.Run(tc.body, func(t *testing.T) { wantFields(t, e.do(http.MethodPost, path, tc.body), tc.fields...) })
	}

	// A stream resuming from 0 replays the stored events only.
	r := e.openStream("/backend/conversations/stream"+convQuery("last_event_id", "0"), nil)
	convSend(t, e, obj{"lead_id": lead, "content": "marker", "role": "assistant"})
	for {
		ev := r.Next(convWait, nil)
		if ev.Type == "typing" || ev.ID == "" {
			t.Fatalf("replay sent a live-only event: %+v", ev)
		}
		if ev.Type == "new_message" && convObj(t, convData(t, ev), "message")["content"] == "marker" {
			break
		}
	}
}
