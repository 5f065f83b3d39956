package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestChannelCRUD(t *testing.T) {
	e := newEnv(t)
	asst := wantData[obj](t, e.do("POST", "/backend/assistants", obj{"name": "Support"}), http.StatusCreated).Data
	asstID := str(t, asst, "id")

	created := wantData[obj](t, e.do("POST", "/backend/channels", obj{"name": "WhatsApp BR", "type": "whatsapp", "assistant_id": asstID}),
		http.StatusCreated).Data
	for _, k := range []string{"id", "name", "type", "assistant_id", "created_at"} {
		if _, ok := created[k]; !ok {
			t.Errorf("channel lacks %q: %v", k, created)
		}
	}
	id := str(t, created, "id")
	if !uuidv7RE.MatchString(id) || created["name"] != "WhatsApp BR" || created["type"] != "whatsapp" || created["assistant_id"] != asstID ||
		!timestampRE.MatchString(str(t, created, "created_at")) {
		t.Errorf("created = %v", created)
	}
	path := "/backend/channels/" + id
	got := wantData[obj](t, e.do("GET", path, nil), http.StatusOK).Data
	if got["name"] != "WhatsApp BR" || got["assistant_id"] != asstID || got["created_at"] != created["created_at"] {
		t.Errorf("GET = %v, want %v", got, created)
	}

	u := wantData[obj](t, e.do("PUT", path, obj{"type": "telegram"}), http.StatusOK).Data
	if u["type"] != "telegram" || u["name"] != "WhatsApp BR" || u["assistant_id"] != asstID {
		t.Errorf("type-only update = %v, want name and assistant kept", u)
	}
	u = wantData[obj](t, e.do("PUT", path, obj{"assistant_id": ""}), http.StatusOK).Data
	if u["assistant_id"] != nil || u["type"] != "telegram" {
		t.Errorf(`after {"assistant_id":""} = %v, want assistant_id null`, u)
	}
	wantFields(t, e.do("PUT", path, obj{"assistant_id": "0190a0b0-0000-7000-8000-000000000000"}), "assistant_id")
	wantFields(t, e.do("PUT", path, obj{"type": "fax"}), "type")

	// Deleting the assistant leaves the channel without one.
	wantData[obj](t, e.do("PUT", path, obj{"assistant_id": asstID}), http.StatusOK)
	if r := e.do("DELETE", "/backend/assistants/"+asstID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE assistant = %d: %s", r.Status, r.Body)
	}
	if got := wantData[obj](t, e.do("GET", path, nil), http.StatusOK).Data; got["assistant_id"] != nil {
		t.Errorf("channel still points at a deleted assistant: %v", got)
	}

	// The tenant's default channel lists first, then this one.
	list := wantData[[]obj](t, e.do("GET", "/backend/channels", nil), http.StatusOK)
	if len(list.Data) != 2 || list.Pagination.Total != 2 || list.Data[0]["is_default"] != true || list.Data[1]["id"] != id {
		t.Errorf("list = %v %+v", list.Data, list.Pagination)
	}
	wantFields(t, e.do("GET", "/backend/channels?limit=101", nil), "limit")

	r := e.do("DELETE", path, nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %q, want 204", r.Status, r.Body)
	}
	wantProblem(t, e.do("GET", path, nil), http.StatusNotFound, "NOT_FOUND")
	wantProblem(t, e.do("PUT", path, obj{"name": "x"}), http.StatusNotFound, "NOT_FOUND")
	wantProblem(t, e.do("DELETE", path, nil), http.StatusNotFound, "NOT_FOUND")
}

func TestChannelTypesAndAssistant(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []string{"whatsapp", "telegram", "email", "sms", "web", "api"} {
		wantData[obj](t, e.do("POST", "/backend/channels", obj{"name": typ, "type": typ}), http.StatusCreated)
	}
	for _, typ := range []string{"", "fax", "WhatsApp", "web ", "whatsapp,sms"} {
		t.Run("type "+typ, func(t *testing.T) {
			p := wantProblem(t, e.do("POST", "/backend/channels", obj{"name": "x", "type": typ}), http.StatusBadRequest, "VALIDATION_ERROR")
			if len(p.Errors) != 1 || p.Errors[0].Field != "type" || !strings.Contains(p.Errors[0].Message, "whatsapp, telegram, email, sms, web, api") {
				t.Errorf("errors = %+v, want type listing the accepted values", p.Errors)
			}
		})
	}
	r := e.do("POST", "/backend/channels", obj{"name": "x", "type": "web", "assistant_id": "0190a0b0-0000-7000-8000-000000000000"})
	p := wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	if len(p.Errors) != 1 || p.Errors[0].Field != "assistant_id" {
		t.Errorf("unknown assistant: errors = %+v, want assistant_id", p.Errors)
	}
	// A channel may name no assistant, or the default one.
	def := wantData[[]obj](t, e.do("GET", "/backend/assistants", nil), http.StatusOK).Data[0]
	ch := wantData[obj](t, e.do("POST", "/backend/channels", obj{"name": "d", "type": "api", "assistant_id": def["id"]}), http.StatusCreated).Data
	if ch["assistant_id"] != def["id"] {
		t.Errorf("assistant_id = %v, want %v", ch["assistant_id"], def["id"])
	}
	none := wantData[obj](t, e.do("POST", "/backend/channels", obj{"name": "n", "type": "sms"}), http.StatusCreated).Data
	if v, ok := none["assistant_id"]; !ok || v != nil {
		t.Errorf("assistant_id without one = %#v, want null", v)
	}
	list := wantData[[]obj](t, e.do("GET", "/backend/channels?limit=100", nil), http.StatusOK)
	if list.Pagination.Total != 9 {
		t.Errorf("total = %d, want 8 channels and the default one", list.Pagination.Total)
	}
}
