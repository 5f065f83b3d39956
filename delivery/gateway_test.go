package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

// gateway receives every delivery of a tenant at one URL, as a WhatsApp
// gateway does. It takes delay per request, answers 500 when fail says so,
// and records the order of first successes and the most requests it had
// open at once.
type gateway struct {
	srv   *httptest.Server
	delay time.Duration
	fail  atomic.Pointer[func(g got, attempt int) bool]

	open, maxOpen atomic.Int64

	mu       sync.Mutex
	attempts map[string]int // delivery id → requests
	oks      []got          // first 2xx of each delivery, in arrival order
}

// got is a delivery as a receiver sees it.
type got struct {
	id   string // X-Parley-Delivery
	key  string // "c:" conversation or "l:" lead: what order is kept for
	text string // the postback's response, the message's content or the lead's name
	at   time.Time
}

func newGateway(t *testing.T, delay time.Duration) *gateway {
	g := &gateway{delay: delay, attempts: map[string]int{}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := g.open.Add(1)
		defer g.open.Add(-1)
		for m := g.maxOpen.Load(); n > m && !g.maxOpen.CompareAndSwap(m, n); m = g.maxOpen.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		d := parse(r.Header.Get("X-Parley-Delivery"), body)
		d.at = time.Now()
		time.Sleep(g.delay)
		g.mu.Lock()
		g.attempts[d.id]++
		attempt := g.attempts[d.id]
		g.mu.Unlock()
		if f := g.fail.Load(); f != nil && (*f)(d, attempt) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		g.mu.Lock()
		first := true
		for _, o := range g.oks {
			first = first && o.id != d.id
		}
		if first {
			g.oks = append(g.oks, d)
		}
		g.mu.Unlock()
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// failWhen sets the rule for 500s (nil: none).
func (g *gateway) failWhen(f func(g got, attempt int) bool) { g.fail.Store(&f) }

func (g *gateway) successes() []got {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]got(nil), g.oks...)
}

func (g *gateway) tried(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attempts[id]
}

// byKey groups texts of first successes per key, in arrival order.
func byKey(oks []got) map[string][]string {
	out := map[string][]string{}
	for _, o := range oks {
		out[o.key] = append(out[o.key], o.text)
	}
	return out
}

// parse reads what the gateway needs from a postback or webhook body.
func parse(id string, body []byte) got {
	var p struct {
		ConversationID string `json:"conversation_id"`
		Response       string `json:"response"`
		Event          string `json:"event"`
		Data           struct {
			ID             string  `json:"id"`
			ConversationID string  `json:"conversation_id"`
			Content        string  `json:"content"`
			Name           *string `json:"name"`
		} `json:"data"`
	}
	json.Unmarshal(body, &p)
	switch {
	case p.ConversationID != "":
		return got{id: id, key: "c:" + p.ConversationID, text: p.Response}
	case strings.HasPrefix(p.Event, "lead."):
		name := ""
		if p.Data.Name != nil {
			name = *p.Data.Name
		}
		return got{id: id, key: "l:" + p.Data.ID, text: name}
	default:
		return got{id: id, key: "c:" + p.Data.ConversationID, text: p.Data.Content}
	}
}

// answer queues the postback of a debounced turn of lead's conversation, as
// the debounce scheduler does at the deadline: a user message in a batch,
// then the batch's answer. It returns the conversation id.
func (e *env) answer(lead, url, text string) string {
	e.t.Helper()
	ctx := context.Background()
	in := store.MessageInput{LeadID: lead, CreateLead: true, Role: store.RoleUser, Content: text,
		MessageType: "text", Status: store.MsgDelivered}
	var st store.Stored
	var b store.Batch
	err := e.ten.Write(ctx, in.About(), func(tx *store.Tx) error {
		var err error
		if st, err = tx.AddMessage(in); err != nil {
			return err
		}
		b, err = tx.AddToBatch(st, store.BatchInput{PostbackURL: url})
		return err
	})
	if err != nil {
		e.t.Fatalf("add message: %v", err)
	}
	if _, err := e.ten.CompleteBatch(ctx, b, text); err != nil {
		e.t.Fatalf("complete batch: %v", err)
	}
	return st.Conversation.ID
}

// hookTo subscribes url to events.
func (e *env) hookTo(url string, events ...string) {
	e.t.Helper()
	if _, err := e.ten.CreateWebhook(context.Background(), store.WebhookInput{URL: &url, Events: events}); err != nil {
		e.t.Fatalf("create webhook: %v", err)
	}
}
