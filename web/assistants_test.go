package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestDefaultAssistant(t *testing.T) {
	e := newEnv(t)
	env := wantData[[]obj](t, e.do("GET", "/backend/assistants", nil), http.StatusOK)
	if len(env.Data) != 1 || env.Pagination == nil || env.Pagination.Total != 1 {
		t.Fatalf("a new tenant has %d assistants (%+v), want its default one", len(env.Data), env.Pagination)
	}
	d := env.Data[0]
	for _, k := range []string{"id", "name", "description", "presentation", "system_prompt", "model", "temperature",
		"history_limit", "debounce_seconds", "debounce_max_wait_seconds", "pause_on_human", "created_at", "updated_at"} {
		if _, ok := d[k]; !ok {
			t.Errorf("assistant lacks %q: %v", k, d)
		}
	}
	want := obj{"history_limit": 20.0, "debounce_seconds": 5.0, "debounce_max_wait_seconds": 30.0, "pause_on_human": true, "is_default": true}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("default assistant %s = %v, want %v", k, d[k], v)
		}
	}
	if !uuidv7RE.MatchString(str(t, d, "id")) || !timestampRE.MatchString(str(t, d, "created_at")) || str(t, d, "name") == "" {
		t.Errorf("default assistant = %v", d)
	}
	r := e.do("DELETE", "/backend/assistants/"+str(t, d, "id"), nil)
	wantProblem(t, r, http.StatusConflict, "ALREADY_EXISTS")
	wantData[obj](t, e.do("GET", "/backend/assistants/"+str(t, d, "id"), nil), http.StatusOK)
}

func TestAssistantCRUD(t *testing.T) {
	e := newEnv(t)
	created := wantData[obj](t, e.do("POST", "/backend/assistants", obj{"name": "  Sales  ", "system_prompt": "Be brief.",
		"temperature": 0.7, "model": "gpt-x"}), http.StatusCreated).Data
	id := str(t, created, "id")
	if !uuidv7RE.MatchString(id) || created["name"] != "Sales" || created["temperature"] != 0.7 || created["is_default"] != false {
		t.Errorf("created = %v", created)
	}
	// Unset settings take the defaults of API.md §3.2.
	for k, v := range (obj{"history_limit": 20.0, "debounce_seconds": 5.0, "debounce_max_wait_seconds": 30.0, "pause_on_human": true}) {
		if created[k] != v {
			t.Errorf("new assistant %s = %v, want %v", k, created[k], v)
		}
	}
	path := "/backend/assistants/" + id
	got := wantData[obj](t, e.do("GET", path, nil), http.StatusOK).Data
	if got["system_prompt"] != "Be brief." || got["model"] != "gpt-x" || got["created_at"] != created["created_at"] {
		t.Errorf("GET = %v, want what POST answered", got)
	}

	u := wantData[obj](t, e.do("PUT", path, obj{"pause_on_human": false, "history_limit": 0, "debounce_seconds": 0.5}), http.StatusOK).Data
	if u["pause_on_human"] != false || u["history_limit"] != 0.0 || u["debounce_seconds"] != 0.5 {
		t.Errorf("update = %v", u)
	}
	if u["name"] != "Sales" || u["system_prompt"] != "Be brief." || u["temperature"] != 0.7 || u["debounce_max_wait_seconds"] != 30.0 {
		t.Errorf("partial update lost fields: %v", u)
	}
	if !timestampRE.MatchString(str(t, u, "updated_at")) || str(t, u, "updated_at") < str(t, created, "updated_at") {
		t.Errorf("updated_at = %v", u["updated_at"])
	}
	list := wantData[[]obj](t, e.do("GET", "/backend/assistants", nil), http.StatusOK)
	if len(list.Data) != 2 || list.Pagination.Total != 2 || list.Data[0]["is_default"] != true || list.Data[1]["id"] != id {
		t.Errorf("list = %v, want the default first, then Sales", list.Data)
	}
	r := e.do("DELETE", path, nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %q, want 204", r.Status, r.Body)
	}
	wantProblem(t, e.do("GET", path, nil), http.StatusNotFound, "NOT_FOUND")
	wantProblem(t, e.do("PUT", path, obj{"name": "x"}), http.StatusNotFound, "NOT_FOUND")
	wantProblem(t, e.do("DELETE", path, nil), http.StatusNotFound, "NOT_FOUND")
}

func TestAssistantRanges(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		field string
		value any
		ok    bool
	}{
		{"temperature", 0, true}, {"temperature", 2, true}, {"temperature", 1.25, true},
		{"temperature", -0.01, false}, {"temperature", 2.01, false},
		{"history_limit", 0, true}, {"history_limit", 200, true}, {"history_limit", -1, false}, {"history_limit", 201, false},
		{"history_limit", 20.5, false},
		{"debounce_seconds", 0, true}, {"debounce_seconds", 3600, true}, {"debounce_seconds", -1, false}, {"debounce_seconds", 3601, false},
		{"debounce_max_wait_seconds", 3600, true}, {"debounce_max_wait_seconds", -0.5, false}, {"debounce_max_wait_seconds", 1e9, false},
		{"name", strings.Repeat("n", 512), true}, {"name", strings.Repeat("n", 513), false}, {"name", "", false}, {"name", " \t", false},
		{"pause_on_human", false, true}, {"pause_on_human", "false", false},
	}
	for _, tc := range cases {
		body := obj{"name": "A", tc.field: tc.value}
		r := e.do("POST", "/backend/assistants", body)
		if tc.ok {
			a := wantData[obj](t, r, http.StatusCreated).Data
			// The PUT road accepts the same value.
			wantData[obj](t, e.do("PUT", "/backend/assistants/"+str(t, a, "id"), obj{tc.field: tc.value}), http.StatusOK)
			continue
		}
		wantFields(t, r, tc.field)
		def := wantData[[]obj](t, e.do("GET", "/backend/assistants?limit=1", nil), http.StatusOK).Data[0]
		wantFields(t, e.do("PUT", "/backend/assistants/"+str(t, def, "id"), obj{tc.field: tc.value}), tc.field)
	}
	// A failed update leaves the assistant as it was.
	def := wantData[[]obj](t, e.do("GET", "/backend/assistants?limit=1", nil), http.StatusOK).Data[0]
	if def["history_limit"] != 20.0 || def["temperature"] != nil {
		t.Errorf("default assistant after refused updates = %v", def)
	}
	wantFields(t, e.do("POST", "/backend/assistants", obj{}), "name")
}
