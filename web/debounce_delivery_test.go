package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

// gatewayRx receives every postback of a tenant at one URL, as a WhatsApp
// gateway does: it takes delay per request, answers 500 while fail says so,
// and records each postback's first receipt and first success.
type gatewayRx struct {
	srv   *httptest.Server
	delay time.Duration
	fail  atomic.Pointer[func(pb store.PostbackPayload) bool]

	mu       sync.Mutex
	received map[string]time.Time    // response_message_id → first receipt of its postback
	attempts map[string][]string     // lead → responses of every request, in order
	ok       []store.PostbackPayload // first success of each postback, in order
}

func newGatewayRx(t *testing.T, delay time.Duration) *gatewayRx {
	g := &gatewayRx{delay: delay, received: map[string]time.Time{}, attempts: map[string][]string{}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		var pb store.PostbackPayload
		json.Unmarshal(body, &pb)
		g.mu.Lock()
		if _, again := g.received[pb.ResponseMessageID]; !again {
			g.received[pb.ResponseMessageID] = at
		}
		g.attempts[pb.LeadID] = append(g.attempts[pb.LeadID], pb.Response)
		g.mu.Unlock()
		time.Sleep(g.delay)
		if f := g.fail.Load(); f != nil && (*f)(pb) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		g.mu.Lock()
		if !slices.ContainsFunc(g.ok, func(o store.PostbackPayload) bool { return o.ResponseMessageID == pb.ResponseMessageID }) {
			g.ok = append(g.ok, pb)
		}
		g.mu.Unlock()
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gatewayRx) successes() []store.PostbackPayload {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]store.PostbackPayload(nil), g.ok...)
}

func (g *gatewayRx) receivedAt(pb store.PostbackPayload) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.received[pb.ResponseMessageID]
}

func (g *gatewayRx) tried(lead string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.attempts[lead]...)
}

func waitUntil(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One lead's postbacks fail: the other leads' answers still arrive within
// their debounce window and a second, and the failing lead's next answer
// waits for its first, then both arrive in order (API.md §3.6).
func TestFailingPostbackHoldsOnlyItsConversation(t *testing.T) {
	e := newEnvWith(t, envOpts{DeliverySchedule: slices.Repeat([]time.Duration{200 * time.Millisecond}, 100)})
	debWindow(t, e, 0.5, 5)
	gw := newGatewayRx(t, 0)
	const poisoned = "5511900000000@s.whatsapp.net"
	var failing atomic.Bool
	failing.Store(true)
	rule := func(pb store.PostbackPayload) bool { return failing.Load() && pb.LeadID == poisoned }
	gw.fail.Store(&rule)
	url := gw.srv.URL + "/cb"

	debSend(t, e, poisoned, "first", url)
	waitUntil(t, 5*time.Second, func() bool { return len(gw.tried(poisoned)) >= 1 }, "the failing postback never arrived")
	debSend(t, e, poisoned, "second", url)
	sent := map[string]time.Time{}
	for i := range 5 {
		lead := fmt.Sprintf("55119000000%02d@s.whatsapp.net", i+1)
		sent[lead] = time.Now()
		debSend(t, e, lead, "hello", url)
	}
	waitUntil(t, 10*time.Second, func() bool { return len(gw.successes()) == 5 }, "the other leads' postbacks did not all arrive")
	var slowest time.Duration
	for _, pb := range gw.successes() {
		slowest = max(slowest, gw.receivedAt(pb).Sub(sent[pb.LeadID]))
	}
	t.Logf("other leads' postbacks arrived at most %v after their message (window 500ms)", slowest)
	if slowest > 1500*time.Millisecond {
		t.Errorf("another lead's postback arrived %v after its message, want within the 0.5 s window + 1 s", slowest)
	}
	time.Sleep(time.Second) // the second answer is composed and queued by now
	for _, r := range gw.tried(poisoned) {
		if r != "You said: first" {
			t.Fatalf("the failing lead's later answer %q was sent while its first postback was failing", r)
		}
	}

	failing.Store(false)
	waitUntil(t, 5*time.Second, func() bool { return len(gw.successes()) == 7 }, "the failing lead's postbacks did not arrive once it recovered")
	var answers []string
	for _, pb := range gw.successes() {
		if pb.LeadID == poisoned {
			answers = append(answers, pb.Response)
		}
	}
	if !slices.Equal(answers, []string{"You said: first", "You said: second"}) {
		t.Errorf("the recovered lead's postbacks arrived as %q, want first then second", answers)
	}
}

// A receiver that takes 200 ms per request and 100 debounced conversations
// closing within a second: with 16 requests in flight every postback
// arrives about a second after its deadline, where one at a time made the
// last wait 20 s.
func TestSlowReceiverGetsPostbacksInParallel(t *testing.T) {
	e := newEnv(t)
	debWindow(t, e, 1, 1)
	gw := newGatewayRx(t, 200*time.Millisecond)
	deadline := map[string]time.Time{}
	for i := range 100 {
		lead := fmt.Sprintf("5511800000%03d@s.whatsapp.net", i)
		q := debSend(t, e, lead, "oi", gw.srv.URL+"/cb")
		at, _ := time.Parse(time.RFC3339, q["deliver_after"].(string))
		deadline[q["conversation_id"].(string)] = at
	}
	waitUntil(t, 30*time.Second, func() bool { return len(gw.successes()) == 100 }, "not every postback arrived")
	var late []time.Duration
	for _, pb := range gw.successes() {
		late = append(late, gw.receivedAt(pb).Sub(deadline[pb.ConversationID]))
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	t.Logf("postbacks arrived after their deadline: p50 %v, max %v", late[len(late)/2], late[len(late)-1])
	// About 1.3 s at 16 in flight (100 × 200 ms / 16); generous for a busy machine.
	if worst := late[len(late)-1]; worst > 3*time.Second {
		t.Errorf("the last postback arrived %v after its deadline, want about 1.3 s (16 in flight)", worst)
	}
}
