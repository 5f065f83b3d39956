package web_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-dev/parley/web"
)

// TestEveryBadFieldIsListed: a 400 names every bad field in errors[], wrong
// JSON types and bad values alike, once each (API.md §1).
func TestEveryBadFieldIsListed(t *testing.T) {
	e := newEnv(t)
	lead := wantData[obj](t, e.do(http.MethodPost, "/backend/leads", obj{"name": "Ana"}), http.StatusCreated).Data
	leadPath := "/backend/leads/" + str(t, lead, "id")
	cases := []struct {
		name, method, path, body string
		fields                   []string
	}{
		{"channel without name and with a bad type", "POST", "/backend/channels", `{"type":"fax"}`, []string{"name", "type"}},
		{"empty channel", "POST", "/backend/channels", `{}`, []string{"name", "type"}},
		{"channel: wrong type and bad value", "POST", "/backend/channels", `{"name":5,"type":"fax"}`, []string{"name", "type"}},
		{"channel: all wrong types", "POST", "/backend/channels", `{"name":[],"type":{},"assistant_id":7}`, []string{"name", "type", "assistant_id"}},
		{"channel update: blank name", "PUT", "/backend/channels/x", `{"name":"  "}`, []string{"name"}},
		{"lead: wrong JSON types", "POST", "/backend/leads", `{"name":1,"phone":true,"email":{},"company":[],"meta":"x"}`,
			[]string{"name", "phone", "email", "company", "meta"}},
		{"lead: bad values", "POST", "/backend/leads", `{"id":"a b","phone":"call me","email":"nope"}`, []string{"id", "phone", "email"}},
		{"lead: type error and bad value", "POST", "/backend/leads", `{"id":"a/b","name":false}`, []string{"id", "name"}},
		{"lead: name too long", "POST", "/backend/leads", `{"name":"` + strings.Repeat("n", 513) + `"}`, []string{"name"}},
		{"lead update: id cannot change", "PUT", leadPath, `{"id":"other","email":"x@"}`, []string{"id", "email"}},
		{"lead update: meta not an object", "PUT", leadPath, `{"meta":[1,2]}`, []string{"meta"}},
		{"assistant: no name, bad ranges", "POST", "/backend/assistants", `{"temperature":2.5,"history_limit":-1,"debounce_seconds":3601}`,
			[]string{"name", "temperature", "history_limit", "debounce_seconds"}},
		{"assistant: wrong types", "POST", "/backend/assistants",
			`{"name":"x","temperature":"hot","history_limit":1.5,"pause_on_human":"yes","debounce_max_wait_seconds":true}`,
			[]string{"temperature", "history_limit", "pause_on_human", "debounce_max_wait_seconds"}},
		{"assistant: huge numbers", "POST", "/backend/assistants", `{"name":"x","temperature":1e400,"history_limit":99999999999999999999999}`,
			[]string{"temperature", "history_limit"}},
		{"assistant update: system prompt too long", "PUT", "/backend/assistants/x",
			`{"system_prompt":"` + strings.Repeat("p", 64<<10+1) + `","name":""}`, []string{"system_prompt", "name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			wantFields(t, r, tc.fields...)
		})
	}
	// Type errors say which type was expected.
	r := e.do("POST", "/backend/assistants", `{"name":1,"history_limit":"x","pause_on_human":0,"temperature":[]}`)
	p := wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	want := map[string]string{"name": "a string", "history_limit": "an integer", "pause_on_human": "a boolean", "temperature": "a number"}
	for _, f := range p.Errors {
		if w, ok := want[f.Field]; !ok || !strings.Contains(f.Message, w) {
			t.Errorf("errors[] %s: %q, want it to say %q", f.Field, f.Message, w)
		}
	}
	if p.Detail == "" || p.Error.Message != p.Detail {
		t.Errorf("detail %q and error.message %q should both describe the failure", p.Detail, p.Error.Message)
	}
}

// hiddenLength hides a body's length from net/http so that it is sent
// chunked, with no Content-Length.
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestBodyLimit(t *testing.T) {
	const limit = 256
	e := newEnv(t, func(c *web.Config) { c.MaxBodyBytes = limit })
	big := `{"name":"` + strings.Repeat("x", limit) + `"}`
	small := `{"name":"small"}`
	auth := map[string]string{"Authorization": "Bearer " + e.key, "Content-Type": "application/json"}
	cases := []struct {
		name, method, path string
		body               io.Reader
	}{
		{"with Content-Length", "POST", "/backend/leads", strings.NewReader(big)},
		{"chunked", "POST", "/backend/leads", hiddenLength{strings.NewReader(big)}},
		{"chunked, far over", "POST", "/backend/assistants", hiddenLength{strings.NewReader(strings.Repeat(" ", 64<<10) + big)}},
		{"PUT chunked", "PUT", "/backend/channels/any", hiddenLength{strings.NewReader(big)}},
		{"just over with Content-Length", "POST", "/backend/leads", bytes.NewReader(make([]byte, limit+1))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(tc.method, tc.path, tc.body, auth)
			p := wantProblem(t, r, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
			if !strings.Contains(p.Detail, "256") {
				t.Errorf("detail %q does not state the limit", p.Detail)
			}
		})
	}
	// Bodies within the limit still work, chunked or not.
	wantData[obj](t, e.raw("POST", "/backend/leads", strings.NewReader(small), auth), http.StatusCreated)
	wantData[obj](t, e.raw("POST", "/backend/leads", hiddenLength{strings.NewReader(`{"name":"chunked"}`)}, auth), http.StatusCreated)
	exact := `{"name":"` + strings.Repeat("y", limit-len(`{"name":""}`)) + `"}`
	if len(exact) != limit {
		t.Fatalf("test bug: body of %d bytes", len(exact))
	}
	wantData[obj](t, e.raw("POST", "/backend/assistants", strings.NewReader(exact), auth), http.StatusCreated)
}

func TestContentType(t *testing.T) {
	e := newEnv(t)
	body := `{"name":"Ana"}`
	cases := []struct {
		ct     string
		status int
	}{
		{"application/xml", http.StatusUnsupportedMediaType},
		{"text/html; charset=utf-8", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"image/png", http.StatusUnsupportedMediaType},
		{"not a media type", http.StatusUnsupportedMediaType},
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"", http.StatusCreated},
	}
	for _, tc := range cases {
		for _, path := range []string{"/backend/leads", "/backend/assistants"} {
			t.Run(tc.ct+" "+path, func(t *testing.T) {
				h := map[string]string{"Authorization": "Bearer " + e.key}
				if tc.ct != "" {
					h["Content-Type"] = tc.ct
				}
				r := e.raw(http.MethodPost, path, strings.NewReader(body), h)
				if tc.status == http.StatusUnsupportedMediaType {
					wantProblem(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA")
					return
				}
				wantData[obj](t, r, tc.status)
			})
		}
	}
	// A PUT with XML is refused the same way.
	lead := wantData[obj](t, e.do("POST", "/backend/leads", obj{"name": "x"}), http.StatusCreated).Data
	r := e.raw(http.MethodPut, "/backend/leads/"+str(t, lead, "id"), strings.NewReader("<lead/>"),
		map[string]string{"Authorization": "Bearer " + e.key, "Content-Type": "application/xml"})
	wantProblem(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA")
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.do(http.MethodGet, "/backend/nothing-here", nil), http.StatusNotFound, "NOT_FOUND")
	r := e.do(http.MethodPatch, "/backend/leads", `{}`)
	if r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
		t.Fatalf("PATCH /backend/leads = %d, want 405 (or 404)", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("PATCH /backend/leads Content-Type = %q, want problem JSON", ct)
	}
}
