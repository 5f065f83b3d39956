package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
)

// TestProcessSSRF: with the guard on, media and postback URLs that point at
// loopback, private, link-local or otherwise local addresses are refused with
// 400 naming the field, and the target is never contacted. (A public URL
// that redirects to a private one is refused at dial time; netguard's own
// TestGuardRefusesRedirectToPrivate covers it, since no public first hop can
// be served from a test.)
func TestProcessSSRF(t *testing.T) {
	target := newProcMedia(t, map[string]procFile{"/x": {contentType: "image/png", body: procPNG(t, 1, 1)}})
	tu, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := tu.Port()
	p := &procProvider{}
	e := newEnvWith(t, envOpts{Provider: p, GuardPrivate: true})
	urls := []string{
		"http://127.0.0.1:" + port + "/x",
		"http://10.0.0.1/x",
		"http://[::1]:" + port + "/x",
		"http://169.254.169.254/latest",
		"http://localhost:" + port + "/x",
		"http://LOCALHOST.:" + port + "/x",
		"http://api.localhost:" + port + "/x",
		"http://[::ffff:127.0.0.1]:" + port + "/x",
		"http://0x7f.1:" + port + "/x",
		"http://2130706433:" + port + "/x",
		"http://0.0.0.0:" + port + "/x",
		"http://192.168.1.1/x",
		"http://100.64.0.1/x",
		"https://[fd00::1]/x",
	}
	kinds := []string{"image", "audio", "pdf"}
	for i, u := range urls {
		t.Run(u, func(t *testing.T) {
			r := e.do(http.MethodPost, "/ai/process", procMsg(e, fmt.Sprintf("lead-ssrf-%d", i), "", obj{"message_type": kinds[i%3], "url": u}))
			wantFields(t, r, "url")
			// The postback URL is guarded the same way, and both are named.
			r = e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-ssrf-pb", "hi", obj{"debounce": true, "postback_url": u}))
			wantFields(t, r, "postback_url")
			r = e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-ssrf-pb", "", obj{"message_type": "pdf", "url": u,
				"debounce": true, "postback_url": u}))
			wantFields(t, r, "url", "postback_url")
		})
	}
	if n := target.Hits("/x"); n != 0 {
		t.Errorf("the private target was contacted %d times", n)
	}
	if p.Calls() != 0 {
		t.Errorf("the provider was called %d times", p.Calls())
	}
	// Text needs no URL and still works with the guard on.
	if res := procProcess(t, e, procMsg(e, "lead-ssrf-text", "hello")); res.Response == nil {
		t.Errorf("text message with the guard on: %+v", res)
	}
}

// TestProcessConversationOrder: concurrent user messages to one lead are
// answered one at a time, each answer stored right after its own message and
// composed with every earlier exchange in its history.
func TestProcessConversationOrder(t *testing.T) {
	const n = 5
	p := &procProvider{complete: func(ctx context.Context, _ int, req ai.Request) (string, error) {
		time.Sleep(60 * time.Millisecond)
		return "re: " + req.UserText, nil
	}}
	e := newEnvWith(t, envOpts{Provider: p})
	rs := procConcurrent(t, n, func(i int) (response, error) {
		return procPost(e, e.key, procMsg(e, "lead-order", fmt.Sprintf("message %d", i)), nil)
	})
	ids := map[string]string{} // user message id → its answer's id
	for i, r := range rs {
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		var res procResult
		r.JSON(t, &res)
		if res.Response == nil || *res.Response != fmt.Sprintf("re: message %d", i) || res.ResponseMessageID == nil {
			t.Fatalf("request %d got %s", i, r.Body)
		}
		ids[res.MessageID] = *res.ResponseMessageID
	}
	p.mu.Lock()
	maxActive := p.maxActive
	p.mu.Unlock()
	if maxActive != 1 {
		t.Errorf("%d provider calls of one conversation ran at once, want 1", maxActive)
	}
	msgs := procLeadMessages(t, e, "lead-order")
	if len(msgs) != 2*n {
		t.Fatalf("lead has %d messages, want %d", len(msgs), 2*n)
	}
	for i := 0; i < len(msgs); i += 2 {
		u, a := msgs[i], msgs[i+1]
		if u["role"] != "user" || a["role"] != "assistant" || a["content"] != "re: "+str(t, u, "content") || ids[str(t, u, "id")] != a["id"] {
			t.Errorf("messages %d,%d = %v / %v: an answer must follow its own message", i, i+1, u, a)
		}
	}
	// The k-th call saw the k-1 earlier exchanges, then its message.
	for k, req := range p.Requests() {
		if len(req.Turns) != 2*k+1 || req.Turns[2*k].Text != req.UserText {
			t.Errorf("call %d had %d turns ending %q, want %d ending with its message", k, len(req.Turns), req.Turns[len(req.Turns)-1].Text, 2*k+1)
		}
	}
}
