package web_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// malformedBodies are bodies no JSON route may choke on.
var malformedBodies = map[string]string{
	"empty":               "",
	"blank":               "  \n\t ",
	"open brace":          "{",
	"array":               "[]",
	"null":                "null",
	"string":              `"x"`,
	"number":              "123",
	"true":                "true",
	"object in name":      `{"name":{}}`,
	"two objects":         `{}{}`,
	"trailing garbage":    `{"name":"a"} trailing`,
	"deep arrays":         strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
	"deep objects":        strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000),
	"deep but legal meta": `{"name":"deep","meta":` + strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9001),
	"invalid UTF-8 bare":  "\xff\xfe\xfd",
	"invalid UTF-8 value": "{\"name\":\"\xff\xfe\",\"content\":\"\xc3\x28\",\"text\":\"\xed\xa0\x80\"}",
	"invalid UTF-8 key":   "{\"\xff\":1}",
	"NUL bytes":           "{\"name\":\"a\x00b\"}\x00",
	"escaped NUL":         `{"name":"a\u0000b","meta":{"k":"\u0000"}}`,
	"lone surrogate":      `{"name":"\ud800"}`,
	"huge number":         `{"n":1e999999999,"limit":99999999999999999999999999999999}`,
	"huge negative":       `{"temperature":-1e400,"history_limit":-99999999999999999999}`,
	"duplicate keys":      `{"name":"a","name":5}`,
	"case-folded key":     `{"NAME":5,"Name":"x"}`,
	"long string":         `{"name":"` + strings.Repeat("z", 200000) + `"}`,
	"many keys":           "{" + strings.Repeat(`"k":1,`, 20000) + `"z":1}`,
}

// commonFields are field names used across API.md's bodies; each gets every
// JSON type on every route.
var commonFields = []string{
	"id", "name", "phone", "email", "company", "meta", "description", "presentation", "system_prompt", "model",
	"temperature", "history_limit", "debounce_seconds", "debounce_max_wait_seconds", "pause_on_human", "type",
	"assistant_id", "status", "is_ai_active", "is_typing", "role", "lead_id", "tenant_id", "content", "channel_id",
	"message_type", "url", "caption", "filename", "debounce", "postback_url", "external_id", "text", "feedback",
	"comment", "surveyNumber", "events", "active",
}

// wrongValues are values of every JSON type, plus numbers no Go type holds.
var wrongValues = []string{`{}`, `[]`, `[1,"a"]`, `true`, `"x"`, `1.5`, `-1`, `1e400`, `123456789012345678901234567890`, `null`, `{"a":{"b":[]}}`}

// TestMalformedBodiesOnEveryRoute sends every malformed body and every wrong
// type to every POST and PUT route echo knows: no 5xx, and every error is
// problem JSON.
func TestMalformedBodiesOnEveryRoute(t *testing.T) {
	e := newEnv(t)
	lead := wantData[obj](t, e.do("POST", "/backend/leads", obj{"name": "Ana"}), http.StatusCreated).Data
	asst := wantData[obj](t, e.do("POST", "/backend/assistants", obj{"name": "A"}), http.StatusCreated).Data
	ch := wantData[obj](t, e.do("POST", "/backend/channels", obj{"name": "C", "type": "web"}), http.StatusCreated).Data
	ids := map[string]string{"lead": str(t, lead, "id"), "assistant": str(t, asst, "id"), "bot": str(t, asst, "id"),
		"channel": str(t, ch, "id")}

	routes := e.routes()
	var paths []string
	for _, rt := range routes {
		if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
			paths = append(paths, rt.Method+" "+rt.Path)
		}
	}
	sort.Strings(paths)
	for _, want := range []string{"POST /backend/leads", "PUT /backend/leads/:id", "POST /backend/assistants",
		"PUT /backend/assistants/:id", "POST /backend/channels", "PUT /backend/channels/:id"} {
		if !contains(paths, want) {
			t.Fatalf("echo's routes lack %q: %v", want, paths)
		}
	}
	for _, mp := range paths {
		method, pattern, _ := strings.Cut(mp, " ")
		path := fillParams(pattern, ids)
		t.Run(mp, func(t *testing.T) {
			t.Parallel()
			e := e.on(t)
			for name, body := range malformedBodies {
				r := e.do(method, path, body)
				checkNoCrash(t, mp, name, body, r)
				if ownRoute(pattern) && (method == "POST" || body != "" && strings.TrimSpace(body) != "") &&
					!json.Valid([]byte(body)) {
					wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
				}
			}
			for _, field := range commonFields {
				for _, v := range wrongValues {
					body := `{"` + field + `":` + v + `}`
					r := e.do(method, path, body)
					checkNoCrash(t, mp, field+"="+v, body, r)
					if kind, ok := ownFields[routeKind(pattern)][field]; ok && wrongFor(kind, v) {
						p := wantProblem(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
						if !named(p, field) {
							t.Errorf("%s %s: errors[] does not name %q: %s", mp, body, field, r.Body)
						}
					}
				}
			}
		})
	}
}

// on returns a copy of the env whose helpers report to t (a subtest).
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// checkNoCrash: below 500, and problem JSON whenever it is an error.
func checkNoCrash(t *testing.T, route, name, body string, r response) {
	t.Helper()
	if r.Status >= 500 {
		t.Errorf("%s with %s (%.80q) = %d: %s", route, name, body, r.Status, r.Body)
		return
	}
	if r.Status < 400 {
		return
	}
	var p problemJSON
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(r.Body, &p) != nil ||
		p.Status != r.Status || p.Error.Code == "" || p.Success == nil || *p.Success || p.Type == "" {
		t.Errorf("%s with %s = %d, not problem JSON (%s): %s", route, name, r.Status, ct, r.Body)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fillParams replaces :params (and a trailing *) with ids of real rows when
// the route names a kind the test made, else with an unknown UUIDv7.
func fillParams(pattern string, ids map[string]string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, ":") && s != "*" {
			continue
		}
		hint := strings.ToLower(s)
		if i > 0 {
			hint = strings.ToLower(segs[i-1]) + " " + hint
		}
		segs[i] = "0190a0b0-0000-7000-8000-000000000000"
		for kind, id := range ids {
			if strings.Contains(hint, kind) {
				segs[i] = id
			}
		}
	}
	return strings.Join(segs, "/")
}

// The routes of this issue and the JSON kind of each of their fields.
var ownFields = map[string]map[string]string{
	"leads": {"id": "string", "name": "string", "phone": "string", "email": "string", "company": "string", "meta": "object"},
	"assistants": {"name": "string", "description": "string", "presentation": "string", "system_prompt": "string",
		"model": "string", "temperature": "number", "history_limit": "integer", "debounce_seconds": "number",
		"debounce_max_wait_seconds": "number", "pause_on_human": "bool"},
	"channels": {"name": "string", "type": "string", "assistant_id": "string"},
}

func routeKind(pattern string) string {
	for kind := range ownFields {
		if pattern == "/backend/"+kind || pattern == "/backend/"+kind+"/:id" {
			return kind
		}
	}
	return ""
}

func ownRoute(pattern string) bool { return routeKind(pattern) != "" }

// wrongFor says whether the JSON value v is of the wrong type for kind.
func wrongFor(kind, v string) bool {
	if v == "null" {
		return false
	}
	var x any
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return true
	}
	switch x := x.(type) {
	case string:
		return kind != "string"
	case bool:
		return kind != "bool"
	case map[string]any:
		return kind != "object"
	case []any:
		return true
	case json.Number:
		switch kind {
		case "integer":
			_, err := x.Int64()
			return err != nil
		case "number":
			f, err := x.Float64()
			return err != nil || f > 1e308 || f < -1e308
		}
		return true
	}
	return true
}

func named(p problemJSON, field string) bool {
	for _, f := range p.Errors {
		if f.Field == field {
			return true
		}
	}
	return false
}
