package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Helpers of the conversation, message and stream tests (issue 3). Every name
// starts with conv so as not to clash with other tests of the package.

// convWait is how long a test waits for an event that must come.
const convWait = 5 * time.Second

// convProcess sends a synchronous /ai/process message and returns its answer.
func convProcess(t *testing.T, e *env, leadID, role, content, channelID string) obj {
	t.Helper()
	body := obj{"tenant_id": e.tenant.ID(), "lead_id": leadID, "role": role, "content": content, "message_type": "text"}
	if channelID != "" {
		body["channel_id"] = channelID
	}
	r := e.do(http.MethodPost, "/ai/process", body)
	if r.Status != http.StatusOK {
		t.Fatalf("POST /ai/process = %d: %s", r.Status, r.Body)
	}
	var res obj
	r.JSON(t, &res)
	return res
}

// convSend posts /backend/messages/send and returns the stored message.
func convSend(t *testing.T, e *env, body obj) obj {
	t.Helper()
	return wantData[obj](t, e.do(http.MethodPost, "/backend/messages/send", body), http.StatusCreated).Data
}

// convLead creates a lead from body and returns its id.
func convLead(t *testing.T, e *env, body obj) string {
	t.Helper()
	return str(t, wantData[obj](t, e.do(http.MethodPost, "/backend/leads", body), http.StatusCreated).Data, "id")
}

// convChannel creates a channel (assistantID may be "") and returns its id.
func convChannel(t *testing.T, e *env, name, assistantID string) string {
	t.Helper()
	body := obj{"name": name, "type": "whatsapp"}
	if assistantID != "" {
		body["assistant_id"] = assistantID
	}
	return str(t, wantData[obj](t, e.do(http.MethodPost, "/backend/channels", body), http.StatusCreated).Data, "id")
}

// convDefaultAssistant returns the id of the tenant's default assistant.
func convDefaultAssistant(t *testing.T, e *env) string {
	t.Helper()
	for _, a := range wantData[[]obj](t, e.do(http.MethodGet, "/backend/assistants?limit=100", nil), http.StatusOK).Data {
		if a["is_default"] == true {
			return str(t, a, "id")
		}
	}
	t.Fatal("the tenant has no default assistant")
	return ""
}

// convGet returns GET /backend/conversations/{id}.
func convGet(t *testing.T, e *env, id string) obj {
	t.Helper()
	return wantData[obj](t, e.do(http.MethodGet, "/backend/conversations/"+id, nil), http.StatusOK).Data
}

// convKeys returns the sorted keys of m.
func convKeys(m obj) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// convWantKeys fails unless m has exactly these keys.
func convWantKeys(t *testing.T, what string, m obj, keys ...string) {
	t.Helper()
	want := slices.Clone(keys)
	sort.Strings(want)
	if got := convKeys(m); !slices.Equal(got, want) {
		t.Errorf("%s keys = %v, want exactly %v (%v)", what, got, want, m)
	}
}

// convObj returns m[k] as an object, failing when it is not one.
func convObj(t *testing.T, m obj, k string) obj {
	t.Helper()
	o, ok := m[k].(map[string]any)
	if !ok {
		t.Fatalf("%q = %#v in %v, want an object", k, m[k], m)
	}
	return o
}

// convData decodes an event's data object.
func convData(t *testing.T, ev sseEvent) obj {
	t.Helper()
	var d obj
	if err := json.Unmarshal(ev.Body, &d); err != nil {
		t.Fatalf("event %s data %s: %v", ev.Type, ev.Body, err)
	}
	return d
}

// convOf keeps events of one of types whose data names this conversation.
func convOf(convID string, types ...string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		var d struct {
			ConversationID string `json:"conversation_id"`
		}
		return json.Unmarshal(ev.Body, &d) == nil && d.ConversationID == convID && ofType(types...)(ev)
	}
}

// convNext returns the next event of one of types about convID.
func convNext(c *sseClient, convID string, types ...string) sseEvent {
	c.t.Helper()
	return c.Next(convWait, convOf(convID, types...))
}

// convDrain returns the non-heartbeat frames that arrive within d, without
// failing: the caller checks that nothing unwanted came.
func convDrain(c *sseClient, d time.Duration) []sseEvent {
	var out []sseEvent
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-c.frames:
			if !ok {
				return out
			}
			if ev.Type != "heartbeat" && ev.Data != "" {
				out = append(out, ev)
			}
		case <-deadline:
			return out
		}
	}
}

// convPending returns the non-heartbeat frames already received, without
// waiting.
func convPending(c *sseClient) []sseEvent {
	var out []sseEvent
	for {
		select {
		case ev, ok := <-c.frames:
			if !ok {
				return out
			}
			if ev.Type != "heartbeat" && ev.Data != "" {
				out = append(out, ev)
			}
		default:
			return out
		}
	}
}

// convQuiet is how long a test listens for events that must not come: a
// matching event is delivered in microseconds, so this only bounds how long
// a wrong delivery could hide.
const convQuiet = 200 * time.Millisecond

// convQuery builds ?k=v&… from pairs.
func convQuery(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Add(pairs[i], pairs[i+1])
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// convIDs returns the "id" of each object.
func convIDs(t *testing.T, list []obj) []string {
	t.Helper()
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = str(t, o, "id")
	}
	return out
}

// convBareArray decodes a response that must be a bare JSON array of objects.
func convBareArray(t *testing.T, r response) []obj {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	if b := strings.TrimSpace(string(r.Body)); !strings.HasPrefix(b, "[") {
		t.Fatalf("body %s is not a bare array", r.Body)
	}
	var list []obj
	r.JSON(t, &list)
	return list
}

// convTick sleeps a few milliseconds so that the next write gets a later
// timestamp (the store keeps milliseconds): ordering only, never timing.
func convTick() { time.Sleep(3 * time.Millisecond) }

// convDefaultChannel is the id of the tenant's default channel, where
// messages that name no channel go.
func convDefaultChannel(t *testing.T, e *env) string {
	t.Helper()
	for _, c := range wantData[[]obj](t, e.do(http.MethodGet, "/backend/channels?limit=100", nil), http.StatusOK).Data {
		if c["is_default"] == true {
			return str(t, c, "id")
		}
	}
	t.Fatal("the tenant has no default channel")
	return ""
}
