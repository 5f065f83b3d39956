package web_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/store/storetest"
)

// procSlow answers after d, so that concurrent duplicates overlap.
func procSlow(d time.Duration) *procProvider {
	return &procProvider{complete: func(ctx context.Context, n int, req ai.Request) (string, error) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "You said: " + req.UserText, nil
	}}
}

// TestProcessIdempotentConcurrent: ten copies of one request (by external_id,
// or by Idempotency-Key) sent at once store one message, call the provider
// once and get ten identical bodies; a later copy gets the same body again
// without a provider call.
func TestProcessIdempotentConcurrent(t *testing.T) {
	cases := []struct {
		name   string
		extra  obj
		header map[string]string
	}{
		{"external_id", obj{"external_id": "wamid.HBgNNTUxMTk5OTk5OTk5ORUCABIYFjNFQjA="}, nil},
		{"Idempotency-Key", nil, map[string]string{"Idempotency-Key": "6f1c2a8e-req-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := procSlow(200 * time.Millisecond)
			e := newEnvWith(t, envOpts{Provider: p})
			body := procMsg(e, "lead-idem", "quero um orçamento", tc.extra)
			rs := procConcurrent(t, 10, func(int) (response, error) { return procPost(e, e.key, body, tc.header) })
			for i, r := range rs {
				if r.Status != http.StatusOK {
					t.Fatalf("request %d: status %d %s", i, r.Status, r.Body)
				}
				if !bytes.Equal(r.Body, rs[0].Body) {
					t.Errorf("request %d body %s differs from %s", i, r.Body, rs[0].Body)
				}
			}
			if p.Calls() != 1 {
				t.Errorf("provider calls = %d, want 1", p.Calls())
			}
			var res procResult
			rs[0].JSON(t, &res)
			if res.Response == nil || *res.Response != "You said: quero um orçamento" {
				t.Errorf("response = %s", rs[0].Body)
			}
			msgs := procLeadMessages(t, e, "lead-idem")
			if len(msgs) != 2 || msgs[0]["id"] != res.MessageID || res.ResponseMessageID == nil || msgs[1]["id"] != *res.ResponseMessageID {
				t.Fatalf("stored messages = %v, want the one user message and its answer", msgs)
			}

			// A later duplicate: the same body, no new call, nothing stored.
			r, err := procPost(e, e.key, body, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusOK || !bytes.Equal(r.Body, rs[0].Body) {
				t.Errorf("later duplicate: %d %s, want %s", r.Status, r.Body, rs[0].Body)
			}
			if p.Calls() != 1 || len(procLeadMessages(t, e, "lead-idem")) != 2 {
				t.Errorf("later duplicate: %d calls, %d messages", p.Calls(), len(procLeadMessages(t, e, "lead-idem")))
			}

			// Without the key the same text is a new message.
			plain := procProcess(t, e, procMsg(e, "lead-idem", "quero um orçamento"))
			if plain.MessageID == res.MessageID || p.Calls() != 2 {
				t.Errorf("a request without key was deduplicated: %+v, %d calls", plain, p.Calls())
			}
		})
	}
}

// TestProcessIdempotencyPerTenant: another tenant sending the same
// external_id (even at the same moment) gets its own message and answer.
func TestProcessIdempotencyPerTenant(t *testing.T) {
	p := procSlow(100 * time.Millisecond)
	e := newEnvWith(t, envOpts{Provider: p})
	other, otherKey := storetest.Tenant(t, e.store, "other")
	const ext = "wamid.shared-between-tenants"
	bodies := []obj{
		procMsg(e, "lead-t", "from acme", obj{"external_id": ext}),
		procMsg(e, "lead-t", "from other", obj{"external_id": ext, "tenant_id": other.ID()}),
	}
	keys := []string{e.key, otherKey}
	rs := procConcurrent(t, 2, func(i int) (response, error) { return procPost(e, keys[i], bodies[i], nil) })
	var res [2]procResult
	for i, r := range rs {
		if r.Status != http.StatusOK {
			t.Fatalf("tenant %d: %d %s", i, r.Status, r.Body)
		}
		r.JSON(t, &res[i])
	}
	if res[0].MessageID == res[1].MessageID || res[0].ConversationID == res[1].ConversationID {
		t.Errorf("tenants shared a message or conversation: %+v / %+v", res[0], res[1])
	}
	if *res[0].Response != "You said: from acme" || *res[1].Response != "You said: from other" {
		t.Errorf("responses = %q / %q", *res[0].Response, *res[1].Response)
	}
	if p.Calls() != 2 {
		t.Errorf("provider calls = %d, want 2", p.Calls())
	}
	page, err := other.LeadMessages(t.Context(), "lead-t", 50, nil, nil)
	if err != nil || len(page.Messages) != 2 || page.Messages[0].Content != "from other" {
		t.Errorf("other tenant's messages = %+v, %v", page.Messages, err)
	}
	if n := len(procLeadMessages(t, e, "lead-t")); n != 2 {
		t.Errorf("acme has %d messages, want 2", n)
	}
}

// TestProcessRetryAfterProviderFailure: a keyed request whose provider call
// failed (502) is finished by its retry: the message is not stored twice, the
// retry is answered, and a further duplicate replays that answer.
func TestProcessRetryAfterProviderFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  obj
		header map[string]string
	}{
		{"external_id", obj{"external_id": "wamid.retry-1"}, nil},
		{"Idempotency-Key", nil, map[string]string{"Idempotency-Key": "retry-key-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &procProvider{complete: func(ctx context.Context, n int, req ai.Request) (string, error) {
				if n == 1 {
					return "", &ai.UpstreamError{Op: "chat", StatusCode: 503}
				}
				return "You said: " + req.UserText, nil
			}}
			e := newEnvWith(t, envOpts{Provider: p})
			body := procMsg(e, "lead-retry", "hello?", tc.extra)

			r, err := procPost(e, e.key, body, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, r, http.StatusBadGateway, "UPSTREAM_ERROR")
			msgs := procLeadMessages(t, e, "lead-retry")
			if len(msgs) != 1 || msgs[0]["role"] != "user" {
				t.Fatalf("after the failure the lead has %v, want its one message", msgs)
			}
			stored := str(t, msgs[0], "id")

			r, err = procPost(e, e.key, body, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusOK {
				t.Fatalf("retry: %d %s", r.Status, r.Body)
			}
			var res procResult
			r.JSON(t, &res)
			if res.MessageID != stored || res.Response == nil || *res.Response != "You said: hello?" {
				t.Errorf("retry = %s, want the answer to message %s", r.Body, stored)
			}
			msgs = procLeadMessages(t, e, "lead-retry")
			if len(msgs) != 2 || msgs[0]["id"] != stored || msgs[1]["role"] != "assistant" {
				t.Errorf("after the retry the lead has %v, want the message once and one answer", msgs)
			}
			// The retried turn saw the message once in its history.
			if req := p.Requests()[1]; len(req.Turns) != 1 {
				t.Errorf("retried request has %d turns, want 1: %+v", len(req.Turns), req.Turns)
			}

			again, err := procPost(e, e.key, body, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if again.Status != http.StatusOK || !bytes.Equal(again.Body, r.Body) || p.Calls() != 2 {
				t.Errorf("duplicate after success: %d %s (%d calls), want %s", again.Status, again.Body, p.Calls(), r.Body)
			}
		})
	}
}

// TestProcessIdempotencyAcrossModes: a debounced duplicate of a sync request
// still in flight (same external_id) neither crashes nor stores the message
// twice nor calls the AI again, and a sync duplicate of a debounced request
// gets that request's message back.
func TestProcessIdempotencyAcrossModes(t *testing.T) {
	p := procSlow(300 * time.Millisecond)
	e := newEnvWith(t, envOpts{Provider: p})
	body := procMsg(e, "lead-modes", "sync first", obj{"external_id": "wamid.modes-1"})
	done := make(chan response, 1)
	go func() {
		r, _ := procPost(e, e.key, body, nil)
		done <- r
	}()
	eventually(t, 5*time.Second, "the sync turn reaching the provider", func() bool { return p.Calls() == 1 })
	deb := procMsg(e, "lead-modes", "sync first", obj{"external_id": "wamid.modes-1", "debounce": true,
		"postback_url": "http://127.0.0.1:9/cb"})
	r, err := procPost(e, e.key, deb, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := <-done
	if first.Status != http.StatusOK {
		t.Fatalf("sync request: %d %s", first.Status, first.Body)
	}
	var res procResult
	first.JSON(t, &res)
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		t.Fatalf("debounced duplicate of an in-flight sync request: %d %s", r.Status, r.Body)
	}
	var dup struct {
		MessageID string `json:"message_id"`
	}
	r.JSON(t, &dup)
	if dup.MessageID != res.MessageID {
		t.Errorf("duplicate message_id = %q, want %q", dup.MessageID, res.MessageID)
	}
	if n := len(procLeadMessages(t, e, "lead-modes")); n != 2 || p.Calls() != 1 {
		t.Errorf("%d messages and %d provider calls, want 2 and 1", n, p.Calls())
	}

	// The other way round, sequentially.
	deb = procMsg(e, "lead-modes2", "debounced first", obj{"external_id": "wamid.modes-2", "debounce": true,
		"postback_url": "http://127.0.0.1:9/cb"})
	r = e.do(http.MethodPost, "/ai/process", deb)
	if r.Status != http.StatusAccepted {
		t.Fatalf("debounced request: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &dup)
	r = e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-modes2", "debounced first", obj{"external_id": "wamid.modes-2"}))
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		t.Fatalf("sync duplicate of a debounced request: %d %s", r.Status, r.Body)
	}
	var again procResult
	r.JSON(t, &again)
	if again.MessageID != dup.MessageID || again.LeadID != "lead-modes2" {
		t.Errorf("sync duplicate = %s, want message %s of lead-modes2", r.Body, dup.MessageID)
	}
	if n := len(procLeadMessages(t, e, "lead-modes2")); n != 1 || p.Calls() != 1 {
		t.Errorf("%d messages and %d provider calls, want 1 and 1", n, p.Calls())
	}
}
