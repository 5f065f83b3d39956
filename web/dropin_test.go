package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/parley-dev/parley/web"
)

// Drop-in fixes for real clients: shapes that other products' clients send
// or expect, which Parley accepts as they are.

// TestDefaultChannelOverHTTP: a gateway that always asks for
// ?channel_id=<channel>&lead=<lead> finds /ai/process traffic, sent with no
// channel, on the tenant's default channel; that channel lists first and
// cannot be deleted.
func TestDefaultChannelOverHTTP(t *testing.T) {
	e := newEnv(t)
	const lead = "5511977776666@s.whatsapp.net"
	list := wantData[[]obj](t, e.do(http.MethodGet, "/backend/channels", nil), http.StatusOK).Data
	if len(list) != 1 || list[0]["is_default"] != true || list[0]["type"] != "api" || list[0]["name"] != "API" {
		t.Fatalf("a new tenant's channels = %v, want its default api channel", list)
	}
	def := str(t, list[0], "id")

	res := convProcess(t, e, lead, "user", "oi", "")
	conv := convGet(t, e, str(t, res, "conversation_id"))
	if conv["channel_id"] != def {
		t.Errorf("/ai/process without channel_id made a conversation on %v, want %s", conv["channel_id"], def)
	}
	var msgs []obj
	e.do(http.MethodGet, "/backend/messages?channel_id="+def+"&lead="+url.QueryEscape(lead), nil).JSON(t, &msgs)
	if len(msgs) != 2 || msgs[0]["content"] != "oi" || msgs[1]["role"] != "assistant" {
		t.Errorf("?channel_id=<default>&lead= = %v, want the lead's message and the answer", msgs)
	}
	convs := wantData[[]obj](t, e.do(http.MethodGet, "/backend/conversations?channel_id="+def, nil), http.StatusOK).Data
	if len(convs) != 1 || convs[0]["id"] != conv["id"] {
		t.Errorf("conversations on the default channel = %v", convs)
	}
	// Naming the default channel or none is the same thread.
	if again := convProcess(t, e, lead, "user", "de novo", def); again["conversation_id"] != conv["id"] {
		t.Errorf("naming the default channel opened %v, want %v", again["conversation_id"], conv["id"])
	}
	sent := convSend(t, e, obj{"lead_id": lead, "content": "Aqui é a Maria"})
	if sent["conversation_id"] != conv["id"] || sent["channel_id"] != def {
		t.Errorf("an operator message with no channel = %v, want it on %s in %v", sent, def, conv["id"])
	}

	p := wantProblem(t, e.do(http.MethodDelete, "/backend/channels/"+def, nil), http.StatusConflict, "ALREADY_EXISTS")
	if !strings.Contains(p.Detail, "default channel") {
		t.Errorf("409 detail = %q, want it to name the default channel", p.Detail)
	}
	if r := e.do(http.MethodGet, "/backend/channels/"+def, nil); r.Status != http.StatusOK {
		t.Errorf("the default channel after a refused delete = %d", r.Status)
	}
}

// TestChatTextAliases: complete and stream read the user's text from text,
// message, content, question or prompt: the first non-empty one, text
// first. None (or only blank ones) is 400 naming text; a wrong type in the
// field that would win is 400 naming that field.
func TestChatTextAliases(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	for _, c := range []struct {
		name  string
		body  string
		want  string // the stored user text; "" = refused
		field string // the field a refusal names
	}{
		{"text", `{"text":"a"}`, "a", ""},
		{"message", `{"message":"b"}`, "b", ""},
		{"content", `{"content":"c"}`, "c", ""},
		{"question", `{"question":"d"}`, "d", ""},
		{"prompt", `{"prompt":"e"}`, "e", ""},
		{"text wins", `{"prompt":"p","text":"t","message":"m"}`, "t", ""},
		{"blank text skipped", `{"text":"  ","question":"q"}`, "q", ""},
		{"null skipped", `{"text":null,"content":"c2"}`, "c2", ""},
		{"order after text", `{"prompt":"p","content":"c","message":"m"}`, "m", ""},
		{"a stray alias beside text", `{"text":"ok","prompt":5}`, "ok", ""},
		{"nothing", `{}`, "", "text"},
		{"only blanks", `{"message":" ","prompt":""}`, "", "text"},
		{"wrong type", `{"message":["x"]}`, "", "message"},
		{"unrelated fields", `{"input":"x"}`, "", "text"},
	} {
		for _, route := range []string{"complete", "stream"} {
			t.Run(route+"/"+c.name, func(t *testing.T) {
				conv := agentCreate(t, e, bot, nil)
				r := e.raw(http.MethodPost, "/conversation/"+route+"/"+conv, strings.NewReader(c.body),
					map[string]string{"Authorization": "Bearer " + e.key, "Content-Type": "application/json"})
				if c.want == "" {
					wantFields(t, r, c.field)
					return
				}
				if r.Status != http.StatusOK {
					t.Fatalf("%s = %d: %s", c.body, r.Status, r.Body)
				}
				msgs := agentMessages(t, e, conv)
				if len(msgs) != 2 || msgs[0].Text != c.want || msgs[1].Text != "You said: "+c.want {
					t.Errorf("%s stored %+v, want the user text %q and its answer", c.body, msgs, c.want)
				}
			})
		}
	}
}

// TestAgentUpdateMetaShapes: PUT /conversation/update/{id} merges the
// pairs of a body {"meta":{…}} (the shape create takes) instead of storing
// a nested meta key; any other body is the pairs themselves.
func TestAgentUpdateMetaShapes(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	for _, c := range []struct {
		name string
		body obj
		want obj
	}{
		{"pairs", obj{"b": "20", "c": "3"}, obj{"a": "1", "b": "20", "c": "3"}},
		{"create's shape", obj{"meta": obj{"b": "20", "c": "3"}}, obj{"a": "1", "b": "20", "c": "3"}},
		{"create's shape deletes with null", obj{"meta": obj{"a": nil}}, obj{"b": "2"}},
		{"meta beside other pairs is a pair", obj{"meta": obj{"x": "y"}, "c": "3"},
			obj{"a": "1", "b": "2", "c": "3", "meta": obj{"x": "y"}}},
		{"meta that is no object is a pair", obj{"meta": "plain"}, obj{"a": "1", "b": "2", "meta": "plain"}},
		{"empty meta changes nothing", obj{"meta": obj{}}, obj{"a": "1", "b": "2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := agentCreate(t, e, bot, obj{"meta": obj{"a": "1", "b": "2"}})
			agentJSON[obj](t, e.do(http.MethodPut, "/conversation/update/"+id, c.body), http.StatusOK)
			got := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+id, nil), http.StatusOK)["meta"]
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("meta after %v = %v, want %v", c.body, got, c.want)
			}
		})
	}
}

// TestUnknownPathsAsDocumented pins what the OpenAPI document says about
// paths and methods that are no route, and that the server does it: 404
// and 405 with or without a key, never 401.
func TestUnknownPathsAsDocumented(t *testing.T) {
	var doc struct {
		Info struct {
			Description string `json:"description"`
		} `json:"info"`
	}
	if err := json.Unmarshal(web.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"A path the server does not know is 404 `NOT_FOUND`",
		"405 `METHOD_NOT_ALLOWED`", "with or without a key"} {
		if !strings.Contains(doc.Info.Description, want) {
			t.Errorf("the document's conventions do not say %q", want)
		}
	}
	if strings.Contains(doc.Info.Description, "401 without a valid key") {
		t.Error("the document still says unknown paths are 401 without a key")
	}
	e := newEnv(t)
	withKey := map[string]string{"Authorization": "Bearer " + e.key}
	for _, c := range []struct {
		method, path string
		header       map[string]string
		status       int
		code         string
	}{
		{http.MethodGet, "/no/such/path", nil, http.StatusNotFound, "NOT_FOUND"},
		{http.MethodGet, "/no/such/path", withKey, http.StatusNotFound, "NOT_FOUND"},
		{http.MethodGet, "/backend/nothing-here", map[string]string{"Authorization": "Bearer prl_wrong"}, http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPatch, "/backend/leads", nil, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{http.MethodPatch, "/backend/leads", withKey, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{http.MethodGet, "/backend/leads", nil, http.StatusUnauthorized, "UNAUTHORIZED"}, // a route: its key is checked
	} {
		wantProblem(t, e.raw(c.method, c.path, nil, c.header), c.status, c.code)
	}
}
