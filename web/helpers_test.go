package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Shapes of API.md §1.
var (
	timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$`)
	uuidv7RE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// raw sends a request built by the test: any body reader, any headers (none
// are added, not even Authorization).
func (e *env) raw(method, path string, body io.Reader, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// envelope is the /backend/* success body.
type envelope[T any] struct {
	Success    *bool `json:"success"`
	Data       T     `json:"data"`
	Pagination *struct {
		Total   int  `json:"total"`
		Limit   int  `json:"limit"`
		Offset  int  `json:"offset"`
		HasMore bool `json:"has_more"`
	} `json:"pagination"`
}

// wantData checks status and the success envelope, and returns it decoded.
func wantData[T any](t *testing.T, r response, status int) envelope[T] {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var env envelope[T]
	r.JSON(t, &env)
	if env.Success == nil || !*env.Success {
		t.Fatalf("body %s lacks \"success\":true", r.Body)
	}
	return env
}

// obj is a decoded JSON object.
type obj = map[string]any

// str returns m[k] as a string, failing when it is not one.
func str(t *testing.T, m obj, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok {
		t.Fatalf("%q = %#v in %v, want a string", k, m[k], m)
	}
	return s
}

// wantFields checks that a 400 names exactly these fields in errors[].
func wantFields(t *testing.T, r response, fields ...string) {
	t.Helper()
	p := wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	got := map[string]bool{}
	for _, f := range p.Errors {
		if f.Message == "" {
			t.Errorf("field %q has no message", f.Field)
		}
		if got[f.Field] {
			t.Errorf("field %q listed twice in %s", f.Field, r.Body)
		}
		got[f.Field] = true
	}
	for _, f := range fields {
		if !got[f] {
			t.Errorf("errors[] lacks field %q: %s", f, r.Body)
		}
	}
	if len(got) != len(fields) {
		t.Errorf("errors[] names %d fields, want %d (%v): %s", len(got), len(fields), fields, r.Body)
	}
}

// eventually polls cond until it is true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustJSON encodes v.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
