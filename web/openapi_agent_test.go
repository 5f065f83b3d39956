package web_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/stream"
	"github.com/parley-dev/parley/web"
)

// The rest of the traffic of TestOpenAPIValidatesRealTraffic.

func oaConversations(t *testing.T, c *oaClient, w *oaWorld) {
	bad := oaReq{Want: 400, Invalid: true}
	c.do(oaReq{Want: 200}, "GET", "/backend/conversations?status=active&is_ai_active=true&limit=5", nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/conversations?lead_id="+url.QueryEscape(w.lead)+"&channel_id="+w.channel+"&assistant_id="+w.assistant, nil)
	c.do(bad, "GET", "/backend/conversations?status=open", nil)
	c.do(bad, "GET", "/backend/conversations?is_ai_active=maybe", nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/conversations/"+w.conv, nil)
	c.do(oaReq{Want: 404}, "GET", "/backend/conversations/nope", nil)
	c.do(oaReq{Want: 200}, "PUT", "/backend/conversations/"+w.conv, obj{"meta": obj{"topic": "pricing"}, "is_ai_active": true})
	c.do(bad, "PUT", "/backend/conversations/"+w.conv, obj{"status": "closed"})
	c.do(oaReq{Want: 404}, "PUT", "/backend/conversations/nope", obj{"status": "archived"})
	// Reopening a thread beside a newer active one of the same lead is 409.
	msg := obj{"tenant_id": w.tenant, "lead_id": "reopen-lead", "role": "system", "content": "x", "message_type": "text"}
	old := str(t, c.data(c.do(oaReq{Want: 200}, "POST", "/ai/process", msg)), "conversation_id")
	c.do(oaReq{Want: 200}, "PUT", "/backend/conversations/"+old, obj{"status": "archived"})
	c.do(oaReq{Want: 200}, "POST", "/ai/process", msg)
	c.do(oaReq{Want: 409}, "PUT", "/backend/conversations/"+old, obj{"status": "active"})
	c.do(oaReq{Want: 200}, "POST", "/backend/conversations/"+w.conv+"/read", nil)
	c.do(oaReq{Want: 404}, "POST", "/backend/conversations/nope/read", nil)
	c.do(oaReq{Want: 200}, "POST", "/backend/conversations/"+w.conv+"/typing", obj{"is_typing": true, "role": "human"})
	c.do(bad, "POST", "/backend/conversations/"+w.conv+"/typing", obj{"role": "user"})
	c.do(oaReq{Want: 404}, "POST", "/backend/conversations/nope/typing", obj{"is_typing": false})
}

func oaMessages(t *testing.T, c *oaClient, w *oaWorld) {
	bad := oaReq{Want: 400, Invalid: true}
	lead, path := url.QueryEscape(w.lead), "/backend/messages/"+url.PathEscape(w.lead)
	c.do(oaReq{Want: 200}, "GET", "/backend/messages?lead="+lead, nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/messages?channel_id="+w.channel+"&limit=5&offset=0", nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/messages?remote_jid="+lead, nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/messages?lead=nobody", nil)
	c.do(oaReq{Want: 400}, "GET", "/backend/messages", nil)
	c.do(bad, "GET", "/backend/messages?lead="+lead+"&limit=500", nil)
	var page envelope[[]obj]
	c.do(oaReq{Want: 200}, "GET", path+"?limit=2", nil).JSON(t, &page)
	ts := url.QueryEscape(str(t, page.Data[len(page.Data)-1], "timestamp"))
	c.do(oaReq{Want: 200}, "GET", path+"?before="+ts, nil)
	c.do(oaReq{Want: 200}, "GET", path+"?after=2020-01-01T00:00:00Z&limit=100", nil)
	c.do(bad, "GET", path+"?before=yesterday", nil)
	c.do(bad, "GET", path+"?limit=0", nil)
	c.do(oaReq{Want: 404}, "GET", "/backend/messages/nobody", nil)
	c.do(oaReq{Want: 201}, "POST", "/backend/messages/send", obj{"lead_id": w.lead, "content": "Aqui é a Maria", "role": "assistant"})
	c.do(oaReq{Want: 201}, "POST", "/backend/messages/send", obj{"lead_id": "paused-lead", "content": "Operator again"})
	c.do(bad, "POST", "/backend/messages/send", obj{"lead_id": w.lead})
	c.do(oaReq{Want: 404}, "POST", "/backend/messages/send", obj{"lead_id": "nobody", "content": "x"})
	c.do(oaReq{Want: 400}, "POST", "/backend/messages/send", obj{"lead_id": w.lead, "content": "x", "channel_id": "nope", "role": "assistant"})
	c.do(oaReq{Want: 201}, "POST", "/backend/messages/media", obj{"lead_id": w.lead, "type": "image",
		"url": "https://example.com/a.png", "caption": "foto", "filename": "a.png", "role": "assistant"})
	c.do(bad, "POST", "/backend/messages/media", obj{"lead_id": w.lead, "type": "gif", "url": "x"})
	c.do(oaReq{Want: 404}, "POST", "/backend/messages/media", obj{"lead_id": "nobody", "type": "audio", "url": "https://example.com/a.ogg"})
	c.do(oaReq{Want: 200}, "PUT", "/backend/messages/"+w.message+"/status", obj{"status": "read"})
	c.do(oaReq{Want: 200}, "PUT", "/backend/messages/"+w.answer+"/status", obj{"status": "delivered"})
	c.do(oaReq{Want: 200}, "PUT", "/backend/messages/"+w.answer+"/status", obj{"status": "sent"}) // backward: ignored
	c.do(bad, "PUT", "/backend/messages/"+w.message+"/status", obj{"status": "pending"})
	c.do(oaReq{Want: 404}, "PUT", "/backend/messages/nope/status", obj{"status": "failed"})
}

func oaStreams(t *testing.T, c *oaClient, w *oaWorld) {
	tok := "token=" + c.key
	// A replay of everything stored so far, then heartbeats.
	r := c.do(oaReq{Want: 200, NoAuth: true, Window: 700 * time.Millisecond, Header: map[string]string{"Last-Event-ID": "0"}},
		"GET", "/backend/conversations/stream?"+tok, nil)
	for _, typ := range []string{"new_message", "conversation_update", "status_change", "message_status", "heartbeat"} {
		if !strings.Contains(string(r.Body), `"type":"`+typ+`"`) {
			t.Errorf("the replayed stream has no %s event: %.300s", typ, r.Body)
		}
	}
	r = c.do(oaReq{Want: 200, Window: 300 * time.Millisecond, Header: map[string]string{"Last-Event-ID": "999999"}},
		"GET", "/backend/conversations/stream?types=new_message,typing&lead_id="+url.QueryEscape(w.lead), nil)
	if !strings.Contains(string(r.Body), `"stream_reset"`) {
		t.Errorf("no stream_reset for a future Last-Event-ID: %.300s", r.Body)
	}
	// A live typing event.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := c.do(oaReq{Want: 200, NoAuth: true, Window: time.Second}, "GET",
			"/backend/conversations/"+w.conv+"/stream?types=typing&"+tok, nil)
		if !strings.Contains(string(r.Body), `"typing"`) {
			t.Errorf("no live typing event: %.300s", r.Body)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	c.do(oaReq{Want: 200}, "POST", "/backend/conversations/"+w.conv+"/typing", obj{"is_typing": true})
	wg.Wait()
	c.do(oaReq{Want: 200, NoAuth: true, Window: 200 * time.Millisecond}, "GET",
		"/backend/conversations/"+w.conv+"/stream?last_event_id=0&channel_id="+w.channel+"&"+tok, nil)
	c.do(oaReq{Want: 400, Invalid: true, NoAuth: true}, "GET", "/backend/conversations/stream?types=bogus&"+tok, nil)
	c.do(oaReq{Want: 400, Invalid: true, NoAuth: true}, "GET", "/backend/conversations/stream?last_event_id=-5&"+tok, nil)
	c.do(oaReq{Want: 401, NoAuth: true}, "GET", "/backend/conversations/stream?token=prl_wrong", nil)
	c.do(oaReq{Want: 401, NoAuth: true, Invalid: true}, "GET", "/backend/conversations/stream", nil)
	c.do(oaReq{Want: 404, NoAuth: true}, "GET", "/backend/conversations/nope/stream?"+tok, nil)
	c.do(oaReq{Want: 400, Invalid: true, Header: map[string]string{"Last-Event-ID": "abc"}}, "GET",
		"/backend/conversations/"+w.conv+"/stream", nil)
}

func oaAgent(t *testing.T, c *oaClient, w *oaWorld) {
	bad := oaReq{Want: 400, Invalid: true}
	c.do(oaReq{Want: 200}, "GET", "/bot", nil)
	c.do(oaReq{Want: 401, NoAuth: true, Invalid: true}, "GET", "/bot", nil)
	c.do(oaReq{Want: 200}, "GET", "/bot/presentation/"+w.assistant, nil)
	c.do(oaReq{Want: 404}, "GET", "/bot/presentation/nope", nil)
	conv := str(t, c.data(c.do(oaReq{Want: 201}, "POST", "/conversation/create/"+w.assistant, obj{"meta": obj{"origin": "site"}})), "id")
	paused := str(t, c.data(c.do(oaReq{Want: 201}, "POST", "/conversation/create/"+w.assistant, nil)), "id")
	c.do(oaReq{Want: 201}, "POST", "/conversation/create/"+w.assistant, obj{"meta": obj{"lead_id": w.lead}})
	c.do(bad, "POST", "/conversation/create/"+w.assistant, obj{"meta": obj{"lead_id": "not a lead id!"}})
	c.do(oaReq{Want: 404}, "POST", "/conversation/create/nope", obj{})
	first := c.data(c.do(oaReq{Want: 200}, "GET", "/conversation?limit=1", nil))
	cursor, _ := first["cursor"].(string)
	if cursor == "" {
		t.Fatalf("GET /conversation?limit=1 gave no cursor: %v", first)
	}
	c.do(oaReq{Want: 200}, "GET", "/conversation?limit=1&currentPage=1&cursor="+url.QueryEscape(cursor), nil)
	c.do(oaReq{Want: 200}, "GET", "/conversation?search=Bia&dateInit=2020-01-01&dateEnd=2100-12-31", nil)
	c.do(oaReq{Want: 200}, "GET", "/conversation?meta=site", nil)
	c.do(bad, "GET", "/conversation?limit=0", nil)
	c.do(bad, "GET", "/conversation?dateInit=2024-13-45", nil)
	c.do(bad, "GET", "/conversation?currentPage=-1", nil)
	c.do(oaReq{Want: 400}, "GET", "/conversation?cursor=forged.cursor", nil)
	c.do(oaReq{Want: 200}, "GET", "/conversation/"+conv, nil)
	c.do(oaReq{Want: 404}, "GET", "/conversation/nope", nil)
	c.do(oaReq{Want: 200}, "GET", "/conversation/message/"+w.conv, nil)
	c.do(oaReq{Want: 404}, "GET", "/conversation/message/nope", nil)
	c.do(oaReq{Want: 200}, "PUT", "/conversation/update/"+conv, obj{"stage": "lead", "origin": nil})
	c.do(oaReq{Want: 400, Invalid: true, Raw: "[]"}, "PUT", "/conversation/update/"+conv, nil)
	c.do(oaReq{Want: 404}, "PUT", "/conversation/update/nope", obj{"a": "b"})
	c.do(oaReq{Want: 200}, "PUT", "/conversation/update/"+conv, obj{"meta": obj{"stage": "won"}})

	done := c.data(c.do(oaReq{Want: 200}, "POST", "/conversation/complete/"+conv, obj{"text": "Quanto custa?"}))
	answer := str(t, done, "id")
	c.do(bad, "POST", "/conversation/complete/"+conv, obj{})
	c.do(oaReq{Want: 404}, "POST", "/conversation/complete/nope", obj{"text": "x"})
	c.do(oaReq{Want: 200}, "POST", "/conversation/complete/"+conv, obj{"message": "e o frete?"})
	c.do(oaReq{Want: 200}, "POST", "/conversation/stream/"+conv, obj{"text": " ", "prompt": "e a garantia?"})
	c.do(bad, "POST", "/conversation/complete/"+conv, obj{"question": "  ", "content": ""})
	c.do(oaReq{Want: 200}, "POST", "/conversation/stream/"+conv, obj{"text": "e o frete?"})
	c.do(oaReq{Want: 200, Header: map[string]string{"Accept": "text/event-stream"}}, "POST", "/conversation/stream/"+conv, obj{"text": "e o prazo?"})
	c.do(bad, "POST", "/conversation/stream/"+conv, obj{"text": "   "})
	c.do(oaReq{Want: 404}, "POST", "/conversation/stream/nope", obj{"text": "x"})
	c.do(oaReq{Want: 200}, "PUT", "/backend/conversations/"+paused, obj{"is_ai_active": false})
	c.do(oaReq{Want: 200}, "POST", "/conversation/complete/"+paused, obj{"text": "anyone?"})
	c.do(oaReq{Want: 200, Header: map[string]string{"Accept": "text/event-stream"}}, "POST", "/conversation/stream/"+paused, obj{"text": "hello?"})
	c.do(oaReq{Want: 200}, "POST", "/conversation/stream/"+paused, obj{"text": "hello?"})

	c.do(oaReq{Want: 200}, "POST", "/conversation/message/feedback/"+answer, obj{"feedback": "like", "comment": "great"})
	c.do(oaReq{Want: 200}, "POST", "/conversation/message/feedback/"+answer, obj{"feedback": nil})
	c.do(bad, "POST", "/conversation/message/feedback/"+answer, obj{"feedback": "meh"})
	c.do(oaReq{Want: 400}, "POST", "/conversation/message/feedback/"+w.message, obj{"feedback": "dislike"})
	c.do(oaReq{Want: 404}, "POST", "/conversation/message/feedback/nope", obj{"feedback": "like"})
	c.do(oaReq{Want: 200}, "POST", "/conversation/survey/"+conv, obj{"surveyNumber": 5, "comment": "ok"})
	c.do(bad, "POST", "/conversation/survey/"+conv, obj{"surveyNumber": 9})
	c.do(oaReq{Want: 404}, "POST", "/conversation/survey/nope", obj{"surveyNumber": 1})
}

// oaFailingProvider is an AI provider whose every call fails upstream.
type oaFailingProvider struct{}

func (oaFailingProvider) Complete(context.Context, ai.Request) (string, error) {
	return "", &ai.UpstreamError{Op: "chat", StatusCode: 503}
}

func (oaFailingProvider) Stream(context.Context, ai.Request, func(string) error) (string, error) {
	return "", &ai.UpstreamError{Op: "chat stream", StatusCode: 503}
}

func (oaFailingProvider) Transcribe(context.Context, ai.Audio) (string, error) {
	return "", ai.ErrNoTranscription
}

// oaSpecialServers produces the errors that need a server of their own: a
// failing AI provider (502), a tiny rate limit (429), a full stream broker
// (503) and a store that is gone (/readyz 503).
func oaSpecialServers(t *testing.T, v *oaValidator) {
	fe := newEnvWith(t, envOpts{Provider: oaFailingProvider{}})
	fc := v.client(t, fe.srv.URL, fe.key)
	var bots []obj
	fc.do(oaReq{Want: 200}, "GET", "/bot", nil).JSON(t, &bots)
	conv := str(t, fc.data(fc.do(oaReq{Want: 201}, "POST", "/conversation/create/"+str(t, bots[0], "id"), nil)), "id")
	fc.do(oaReq{Want: 502}, "POST", "/conversation/complete/"+conv, obj{"text": "hi"})
	fc.do(oaReq{Want: 502}, "POST", "/conversation/stream/"+conv, obj{"text": "hi"})

	re := newEnv(t, func(c *web.Config) { c.RateLimitPerMinute = 1 })
	rc := v.client(t, re.srv.URL, re.key)
	rc.do(oaReq{Want: 200}, "GET", "/backend/settings", nil)
	rc.do(oaReq{Want: 429}, "GET", "/backend/settings", nil)

	se := newEnvWith(t, envOpts{Stream: stream.Options{MaxStreams: 1}})
	sc := v.client(t, se.srv.URL, se.key)
	sc.do(oaReq{Want: 200}, "GET", "/bot", nil).JSON(t, &bots)
	one := str(t, sc.data(sc.do(oaReq{Want: 201}, "POST", "/conversation/create/"+str(t, bots[0], "id"), nil)), "id")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc.do(oaReq{Want: 200, Window: 800 * time.Millisecond}, "GET", "/backend/conversations/stream", nil)
	}()
	time.Sleep(300 * time.Millisecond)
	sc.do(oaReq{Want: 503}, "GET", "/backend/conversations/stream", nil)
	sc.do(oaReq{Want: 503}, "GET", "/backend/conversations/"+one+"/stream", nil)
	wg.Wait()

	gone := newEnv(t)
	gone.store.Close()
	v.client(t, gone.srv.URL, "").do(oaReq{Want: 503, NoAuth: true}, "GET", "/readyz", nil)
}
