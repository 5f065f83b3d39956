package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/delivery"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// debReceiver is a real HTTP receiver of postbacks and webhooks.
type debReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []debDelivery
	hang chan struct{} // when not nil, requests block until it closes
}

type debDelivery struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

func newDebReceiver(t *testing.T) *debReceiver {
	r := &debReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.hang != nil {
			select {
			case <-r.hang:
			case <-req.Context().Done():
				return
			}
		}
		r.mu.Lock()
		r.got = append(r.got, debDelivery{At: time.Now(), Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		if r.hang != nil {
			close(r.hang)
		}
		r.srv.Close()
	})
	return r
}

func (r *debReceiver) deliveries() []debDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]debDelivery(nil), r.got...)
}

// waitFor polls until the receiver has n deliveries, failing after timeout.
func (r *debReceiver) waitFor(t *testing.T, n int, timeout time.Duration) []debDelivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if got := r.deliveries(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("receiver got %d deliveries, want %d within %v", len(r.deliveries()), n, timeout)
	return nil
}

// debWindow sets the default assistant's debounce window and max wait.
func debWindow(t *testing.T, e *env, window, maxWait float64) {
	t.Helper()
	a, err := e.tenant.DefaultAssistant(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("PUT", "/backend/assistants/"+a.ID, map[string]any{"debounce_seconds": window, "debounce_max_wait_seconds": maxWait})
	if r.Status != http.StatusOK {
		t.Fatalf("set window: %d %s", r.Status, r.Body)
	}
}

// debSend posts one debounced user message and checks the 202.
func debSend(t *testing.T, e *env, lead, text, postback string) map[string]any {
	t.Helper()
	r := e.do("POST", "/ai/process", map[string]any{"tenant_id": e.tenant.ID(), "lead_id": lead, "role": "user",
		"content": text, "message_type": "text", "debounce": true, "postback_url": postback})
	if r.Status != http.StatusAccepted {
		t.Fatalf("debounced send: %d %s", r.Status, r.Body)
	}
	var q map[string]any
	r.JSON(t, &q)
	if q["success"] != true || q["queued"] != true || q["conversation_id"] == "" || q["message_id"] == "" {
		t.Fatalf("202 body = %s", r.Body)
	}
	if _, err := time.Parse(time.RFC3339, q["deliver_after"].(string)); err != nil {
		t.Fatalf("deliver_after %v: %v", q["deliver_after"], err)
	}
	return q
}

func TestDebounceOnePostbackPerBurst(t *testing.T) {
	e := newEnv(t)
	rc := newDebReceiver(t)
	debWindow(t, e, 1, 30)
	var ids []string
	for _, text := range []string{"oi", "tudo bem?", "queria saber o preço"} {
		ids = append(ids, debSend(t, e, "5511999999999@s.whatsapp.net", text, rc.srv.URL+"/cb")["message_id"].(string))
		time.Sleep(200 * time.Millisecond)
	}
	got := rc.waitFor(t, 1, 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // a second postback would have come by now
	if n := len(rc.deliveries()); n != 1 {
		t.Fatalf("got %d postbacks, want exactly 1", n)
	}
	var pb store.PostbackPayload
	if err := json.Unmarshal(got[0].Body, &pb); err != nil {
		t.Fatal(err)
	}
	if pb.MessagesProcessed != 3 || len(pb.MessageIDs) != 3 || pb.TenantID != e.tenant.ID() ||
		pb.LeadID != "5511999999999@s.whatsapp.net" || pb.ResponseMessageID == "" {
		t.Fatalf("postback = %+v", pb)
	}
	for i := range ids {
		if pb.MessageIDs[i] != ids[i] {
			t.Errorf("message_ids[%d] = %s, want %s", i, pb.MessageIDs[i], ids[i])
		}
	}
	if pb.Response != "You said: oi\ntudo bem?\nqueria saber o preço" {
		t.Errorf("response = %q: the AI must answer all three in one turn", pb.Response)
	}
	var settings struct {
		Data struct {
			PostbackSecret string `json:"postback_secret"`
		} `json:"data"`
	}
	e.do("GET", "/backend/settings", nil).JSON(t, &settings)
	debVerify(t, got[0], settings.Data.PostbackSecret)
}

// debVerify checks both signatures of a delivery with secret.
func debVerify(t *testing.T, d debDelivery, secret string) {
	t.Helper()
	ts, err := strconv.ParseInt(d.Header.Get("X-Parley-Timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("X-Parley-Timestamp %q", d.Header.Get("X-Parley-Timestamp"))
	}
	if got, want := d.Header.Get("X-Parley-Signature"), delivery.Sign(secret, ts, d.Body); got != want {
		t.Errorf("X-Parley-Signature = %q, want %q", got, want)
	}
	if got, want := d.Header.Get("X-Leavo-Signature"), delivery.SignLeavo(secret, d.Body); got != want {
		t.Errorf("X-Leavo-Signature = %q, want %q", got, want)
	}
	if d.Header.Get("X-Parley-Delivery") == "" || d.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", d.Header)
	}
}

func TestDebounceMaxWait(t *testing.T) {
	e := newEnv(t)
	rc := newDebReceiver(t)
	debWindow(t, e, 1, 2)
	// A message every 500 ms for 5 s: a 1 s window alone would never close.
	start := time.Now()
	sent := 0
	for i := 0; i < 10; i++ {
		debSend(t, e, "lead-maxwait", "msg "+strconv.Itoa(i), rc.srv.URL)
		sent++
		time.Sleep(500 * time.Millisecond)
	}
	got := rc.waitFor(t, 1, 5*time.Second)
	var pb store.PostbackPayload
	json.Unmarshal(got[0].Body, &pb)
	// Cut by max wait: the first batch closes ~2 s in, while the burst goes on.
	if pb.MessagesProcessed < 2 || pb.MessagesProcessed >= sent {
		t.Fatalf("first postback answered %d of %d messages; max wait should have cut the burst", pb.MessagesProcessed, sent)
	}
	if wait := got[0].At.Sub(start); wait > 4500*time.Millisecond {
		t.Errorf("first postback after %v: max wait of 2 s not honoured", wait)
	}
}

// slowProvider answers after a delay, counting calls.
type slowProvider struct {
	ai.Provider
	delay time.Duration
	mu    sync.Mutex
	calls int
}

func (p *slowProvider) Complete(ctx context.Context, req ai.Request) (string, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return "answer to: " + req.UserText, nil
}

func (p *slowProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func TestDebounceSupersedeWhileComposing(t *testing.T) {
	b, _ := ai.NewBuiltin(ai.BuiltinConfig{})
	p := &slowProvider{Provider: b, delay: 800 * time.Millisecond}
	e := newEnvWith(t, envOpts{Provider: p})
	rc := newDebReceiver(t)
	debWindow(t, e, 0.3, 30)
	debSend(t, e, "lead-sup", "first", rc.srv.URL)
	deadline := time.Now().Add(3 * time.Second)
	for p.count() == 0 && time.Now().Before(deadline) { // wait until the AI is composing
		time.Sleep(10 * time.Millisecond)
	}
	debSend(t, e, "lead-sup", "second", rc.srv.URL)
	got := rc.waitFor(t, 1, 5*time.Second)
	time.Sleep(1200 * time.Millisecond)
	if n := len(rc.deliveries()); n != 1 {
		t.Fatalf("got %d postbacks, want 1 covering both messages", n)
	}
	var pb store.PostbackPayload
	json.Unmarshal(got[0].Body, &pb)
	if pb.MessagesProcessed != 2 || pb.Response != "answer to: first\nsecond" {
		t.Fatalf("postback = %+v, want one answer to both", pb)
	}
}

func TestDebounceHumanTakeoverCancels(t *testing.T) {
	b, _ := ai.NewBuiltin(ai.BuiltinConfig{})
	p := &slowProvider{Provider: b}
	e := newEnvWith(t, envOpts{Provider: p})
	rc := newDebReceiver(t)
	debWindow(t, e, 0.5, 30)
	debSend(t, e, "lead-human", "oi", rc.srv.URL)
	r := e.do("POST", "/backend/messages/send", map[string]any{"lead_id": "lead-human", "content": "deixa comigo"})
	if r.Status != http.StatusCreated {
		t.Fatalf("human send: %d %s", r.Status, r.Body)
	}
	time.Sleep(1200 * time.Millisecond)
	if n := len(rc.deliveries()); n != 0 || p.count() != 0 {
		t.Fatalf("after a human took over: %d postbacks, %d provider calls; want 0 and 0", n, p.count())
	}
}

func TestWebhooksSignedEvents(t *testing.T) {
	e := newEnv(t)
	rc := newDebReceiver(t)
	r := e.do("POST", "/backend/webhooks", map[string]any{"url": rc.srv.URL + "/hook",
		"events": []string{"lead.created", "message.received", "ai.response"}})
	h := wantData[struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}](t, r, http.StatusCreated)
	if len(h.Data.Secret) < 10 || h.Data.Secret[:6] != "whsec_" {
		t.Fatalf("secret = %q", h.Data.Secret)
	}
	one := wantData[map[string]any](t, e.do("GET", "/backend/webhooks/"+h.Data.ID, nil), http.StatusOK)
	if _, shown := one.Data["secret"]; shown {
		t.Error("GET shows the webhook secret; it must only be shown at creation")
	}
	r = e.do("POST", "/ai/process", map[string]any{"tenant_id": e.tenant.ID(), "lead_id": "lead-hook", "role": "user",
		"content": "olá", "message_type": "text"})
	if r.Status != http.StatusOK {
		t.Fatalf("process: %d %s", r.Status, r.Body)
	}
	got := rc.waitFor(t, 3, 5*time.Second)
	// lead.created is ordered per lead, the other two per conversation: the
	// conversation's two keep their order, the lead's may come anywhere.
	pos := map[string]int{}
	for i, d := range got {
		var p struct {
			Event     string          `json:"event"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &p); err != nil {
			t.Fatal(err)
		}
		if !timestampRE.MatchString(p.Timestamp) || len(p.Data) < 2 {
			t.Errorf("webhook %d = %s, want an event with timestamp and data", i, d.Body)
		}
		pos[p.Event] = i + 1
		debVerify(t, d, h.Data.Secret)
	}
	if pos["lead.created"] == 0 || pos["message.received"] == 0 || pos["ai.response"] == 0 ||
		pos["message.received"] > pos["ai.response"] {
		t.Errorf("webhooks arrived as %v; want lead.created, and message.received before ai.response", pos)
	}
}

// A postback receiver that hangs must not delay another tenant's postback.
func TestDeliveryIsolationAcrossTenants(t *testing.T) {
	e := newEnv(t)
	slow := newDebReceiver(t)
	slow.hang = make(chan struct{})
	fast := newDebReceiver(t)
	debWindow(t, e, 0.1, 30)
	other, otherKey := storetest.Tenant(t, e.store, "other")
	oa, _ := other.DefaultAssistant(context.Background())
	e.doKey(otherKey, "PUT", "/backend/assistants/"+oa.ID, map[string]any{"debounce_seconds": 0.1})

	debSend(t, e, "lead-slow", "oi", slow.srv.URL)
	time.Sleep(300 * time.Millisecond) // the slow postback is now hanging
	start := time.Now()
	r := e.doKey(otherKey, "POST", "/ai/process", map[string]any{"tenant_id": other.ID(), "lead_id": "lead-fast",
		"role": "user", "content": "oi", "message_type": "text", "debounce": true, "postback_url": fast.srv.URL})
	if r.Status != http.StatusAccepted {
		t.Fatalf("other tenant: %d %s", r.Status, r.Body)
	}
	fast.waitFor(t, 1, 3*time.Second)
	if d := time.Since(start); d > 1100*time.Millisecond { // 100 ms window + 1 s allowance
		t.Fatalf("other tenant's postback took %v behind a hanging receiver", d)
	}
}
