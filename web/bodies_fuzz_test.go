package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
)

// FuzzRequestBodies sends arbitrary bytes as the body of every POST and PUT
// route, ids filled with real ones, through the real server and store: the
// decoders of /ai/process, message send and media, the agent dialect's
// bodies, leads, assistants, channels, webhooks and conversations. No body
// may cause a 5xx, and every refusal is problem JSON.
func FuzzRequestBodies(f *testing.F) {
	e := newEnvWith(f, envOpts{})
	lead := "fuzz-lead"
	r := e.do("POST", "/ai/process", map[string]any{"tenant_id": e.tenant.ID(), "lead_id": lead, "role": "user",
		"content": "oi", "message_type": "text"})
	var res struct {
		ConversationID    string `json:"conversation_id"`
		ResponseMessageID string `json:"response_message_id"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil || res.ConversationID == "" {
		f.Fatalf("setup: %d %s", r.Status, r.Body)
	}
	assistant, _ := e.tenant.DefaultAssistant(f.Context())
	ids := map[string]string{":id": res.ConversationID, ":botId": assistant.ID, ":lead_id": lead}
	var routes []string
	for _, rt := range e.routes() {
		if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
			routes = append(routes, rt.Method+" "+rt.Path)
		}
	}
	sort.Strings(routes)
	for _, seed := range []string{
		`{"tenant_id":"` + e.tenant.ID() + `","lead_id":"l2","role":"user","content":"x","message_type":"text"}`,
		`{"lead_id":"fuzz-lead","content":"olá"}`, `{"lead_id":"fuzz-lead","type":"image","url":"https://e.com/a.png"}`,
		`{"text":"oi"}`, `{"feedback":"like"}`, `{"surveyNumber":5}`, `{"meta":{"a":1}}`, `{"status":"read"}`,
		`{"name":"x","type":"web"}`, `{"url":"https://e.com/h","events":["lead.created"]}`, `{"is_typing":true}`,
		`{"is_ai_active":false,"meta":{"k":null}}`, `null`, `[]`, `{`, ``, `"x"`, `{"a":` + strings.Repeat("[", 500),
	} {
		for i := range routes {
			f.Add(uint16(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, route uint16, body []byte) {
		method, path, _ := strings.Cut(routes[int(route)%len(routes)], " ")
		for k, v := range ids {
			path = strings.ReplaceAll(path, k, v)
		}
		path = strings.ReplaceAll(path, ":id", res.ResponseMessageID)
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s: %d without problem JSON: %s", method, path, rec.Code, rec.Body)
		}
	})
}
