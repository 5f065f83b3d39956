package crashtest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

// A debounced batch acknowledged before a SIGKILL is answered exactly once
// after the restart.
func TestKilledBeforeDeadlinePostsBackOnce(t *testing.T) {
	db := storetest.Target(t)
	rc := newReceiver(t, nil)
	p := startParley(t, db)
	tenant := p.tenantID()
	p.must("PUT", "/backend/assistants/"+p.defaultAssistant(), map[string]any{"debounce_seconds": 2}, http.StatusOK, nil)
	var ids []string
	for _, text := range []string{"oi", "tudo bem?", "queria saber o preço"} {
		var q struct {
			MessageID string `json:"message_id"`
		}
		p.must("POST", "/ai/process", map[string]any{"tenant_id": tenant, "lead_id": "5511988887777@s.whatsapp.net",
			"role": "user", "content": text, "message_type": "text", "debounce": true, "postback_url": rc.srv.URL + "/cb"},
			http.StatusAccepted, &q)
		ids = append(ids, q.MessageID)
	}
	p.kill() // well before the 2 s deadline
	if ok, _, _ := rc.snapshot(); len(ok) != 0 {
		t.Fatalf("a postback arrived before the kill: %v", ok)
	}

	startParley(t, db)
	if !waitUntil(10*time.Second, func() bool { ok, _, _ := rc.snapshot(); return len(ok) == 1 }) {
		t.Fatal("no postback after the restart")
	}
	time.Sleep(2500 * time.Millisecond) // room for a duplicate to show up
	ok, bodies, _ := rc.snapshot()
	if len(ok) != 1 {
		t.Fatalf("got %d distinct postbacks, want 1", len(ok))
	}
	for id, n := range ok {
		if n != 1 {
			t.Errorf("postback %s accepted %d times, want once", id, n)
		}
		var pb struct {
			MessagesProcessed int      `json:"messages_processed"`
			MessageIDs        []string `json:"message_ids"`
		}
		json.Unmarshal(bodies[id], &pb)
		if pb.MessagesProcessed != 3 || len(pb.MessageIDs) != 3 || pb.MessageIDs[0] != ids[0] || pb.MessageIDs[2] != ids[2] {
			t.Errorf("postback = %s, want the three acknowledged messages", bodies[id])
		}
	}
}

// A delivery waiting for its retry when the process dies is delivered once
// after the restart.
func TestKilledMidRetryDeliversOnce(t *testing.T) {
	db := storetest.Target(t)
	rc := newReceiver(t, func(_ string, attempt int) bool { return attempt == 1 })
	schedule := "PARLEY_DELIVERY_RETRY_SCHEDULE=1500ms,1500ms"
	p := startParley(t, db, schedule)
	p.must("POST", "/backend/webhooks", map[string]any{"url": rc.srv.URL + "/hook", "events": []string{"lead.created"}},
		http.StatusCreated, nil)
	p.must("POST", "/backend/leads", map[string]any{"name": "Ana"}, http.StatusCreated, nil)
	if !waitUntil(5*time.Second, func() bool { _, _, a := rc.snapshot(); return len(a) == 1 }) {
		t.Fatal("the first attempt never arrived")
	}
	p.kill() // the retry is due 1.5 s after the failed attempt

	startParley(t, db, schedule)
	if !waitUntil(10*time.Second, func() bool { ok, _, _ := rc.snapshot(); return len(ok) == 1 }) {
		t.Fatal("the delivery was not retried after the restart")
	}
	time.Sleep(2 * time.Second)
	ok, _, attempts := rc.snapshot()
	for id, n := range ok {
		if n != 1 {
			t.Errorf("delivery %s accepted %d times, want once", id, n)
		}
		if attempts[id] != 2 {
			t.Errorf("delivery %s attempted %d times, want 2 (one failure, one success)", id, attempts[id])
		}
	}
}
