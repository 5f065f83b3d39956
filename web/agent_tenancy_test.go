package web_test

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestAgentOtherTenant: another tenant's key gets 404 on every EvaGPT route
// given the first tenant's ids, empty lists, and a 400 for its cursors; and
// nothing it tried changed the first tenant's data.
func TestAgentOtherTenant(t *testing.T) {
	e := newEnv(t)
	_, other := storetest.Tenant(t, e.store, "other")
	bot := agentBot(t, e)
	var conv string
	for i := range 3 {
		conv = agentCreate(t, e, bot, obj{"meta": obj{"k": "secret-value", "i": i}})
	}
	answer := agentComplete(t, e, conv, "private words")
	before := agentMessages(t, e, conv)

	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/bot/presentation/" + bot, nil},
		{http.MethodGet, "/conversation/" + conv, nil},
		{http.MethodGet, "/conversation/message/" + conv, nil},
		{http.MethodPost, "/conversation/create/" + bot, obj{"meta": obj{"lead_id": "x"}}},
		{http.MethodPut, "/conversation/update/" + conv, obj{"k": "stolen"}},
		{http.MethodPost, "/conversation/stream/" + conv, obj{"text": "hi"}},
		{http.MethodPost, "/conversation/complete/" + conv, obj{"text": "hi"}},
		{http.MethodPost, "/conversation/message/feedback/" + answer, obj{"feedback": "dislike"}},
		{http.MethodPost, "/conversation/survey/" + conv, obj{"surveyNumber": 1}},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			p := wantProblem(t, e.doKey(other, r.method, r.path, r.body), http.StatusNotFound, "NOT_FOUND")
			if p.Instance != r.path {
				t.Errorf("instance = %q, want %q", p.Instance, r.path)
			}
		})
	}

	for _, q := range []url.Values{nil, {"search": {conv}}, {"search": {"private words"}}, {"meta": {"secret-value"}}} {
		if p := agentList(t, e, other, q); p.Total != 0 || len(p.Conversations) != 0 || p.TotalPages != 0 || p.Cursor != nil {
			t.Errorf("GET /conversation?%s as another tenant = %+v, want nothing", q.Encode(), p)
		}
	}
	bots := agentJSON[[]obj](t, e.doKey(other, http.MethodGet, "/bot", nil), http.StatusOK)
	if len(bots) != 1 || bots[0]["id"] == bot {
		t.Errorf("GET /bot as another tenant = %v, want only its own default bot", bots)
	}

	// A cursor of the first tenant means nothing to the other, filters alike.
	page := agentList(t, e, e.key, url.Values{"limit": {"1"}})
	if page.Cursor == nil {
		t.Fatal("no cursor on the first page")
	}
	r := e.doKey(other, http.MethodGet, "/conversation?"+url.Values{"limit": {"1"}, "cursor": {*page.Cursor}}.Encode(), nil)
	wantFields(t, r, "cursor")

	// Nothing changed on the first tenant's side.
	got := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+conv, nil), http.StatusOK)
	if got["survey"] != 0.0 || !reflect.DeepEqual(got["meta"], obj{"k": "secret-value", "i": 2.0}) {
		t.Errorf("conversation after the other tenant's attempts = %v", got)
	}
	if after := agentMessages(t, e, conv); !reflect.DeepEqual(after, before) {
		t.Errorf("messages after the other tenant's attempts = %+v, want %+v", after, before)
	}
	if p := agentList(t, e, e.key, nil); p.Total != 3 {
		t.Errorf("first tenant has %d conversations, want 3", p.Total)
	}
	if r := e.do(http.MethodGet, "/backend/leads/x", nil); r.Status != http.StatusNotFound {
		t.Errorf("the other tenant's create made lead x in the first tenant: %d", r.Status)
	}
}
