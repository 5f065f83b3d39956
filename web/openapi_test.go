package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/web"
	"github.com/parley-dev/parley/web/apidocs"
)

// oaSpec is the embedded document read with encoding/json: what the drift
// and page checks need (the full validation uses kin-openapi).
type oaSpec struct {
	OpenAPI    string                                `json:"openapi"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Responses map[string]oaSpecResponse  `json:"responses"`
	} `json:"components"`
}

type oaSpecOp struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Security    *[]map[string][]string `json:"security"`
	Parameters  []struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Responses map[string]oaSpecResponse `json:"responses"`
}

type oaSpecResponse struct {
	Ref     string                     `json:"$ref"`
	Content map[string]json.RawMessage `json:"content"`
}

var oaHTTPMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true,
	"patch": true, "trace": true}

// oaReadSpec decodes the embedded document and its operations by "METHOD /path".
func oaReadSpec(t *testing.T) (*oaSpec, map[string]oaSpecOp) {
	t.Helper()
	var spec oaSpec
	if err := json.Unmarshal(web.OpenAPIDocument(), &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.1.") {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.1.x", spec.OpenAPI)
	}
	ops := map[string]oaSpecOp{}
	for path, item := range spec.Paths {
		for method, raw := range item {
			if !oaHTTPMethods[method] {
				continue
			}
			var op oaSpecOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return &spec, ops
}

// oaEchoParam turns echo's /a/:id into OpenAPI's /a/{id}.
var oaEchoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// oaRoutes lists "METHOD /path" of every route the real server registers
// (built as main builds it, /metrics included), without echo's internal
// not-found routes and the inbox UI (/ and its assets), which the document
// does not describe.
func oaRoutes(t *testing.T) map[string]bool {
	t.Helper()
	routes := map[string]bool{}
	for _, r := range newEnv(t).routes() {
		if r.Method == echo.RouteNotFound || strings.Contains(r.Path, "*") || r.Path == "/" || r.Path == "" {
			continue
		}
		routes[r.Method+" "+oaEchoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	return routes
}

// TestOpenAPIMatchesRoutes is the drift check: every route echo registers is
// documented, and every documented operation is a registered route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	_, ops := oaReadSpec(t)
	routes := oaRoutes(t)
	var missing, extra []string
	for r := range routes {
		if _, ok := ops[r]; !ok {
			missing = append(missing, r)
		}
	}
	for o := range ops {
		if !routes[o] {
			extra = append(extra, o)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("route %s is registered in echo but missing from web/openapi.json", r)
	}
	for _, o := range extra {
		t.Errorf("operation %s is in web/openapi.json but no such route is registered in echo", o)
	}
	if len(routes) < 50 {
		t.Errorf("only %d routes found in echo: %v", len(routes), routes)
	}
}

// TestOpenAPIDocumentShape checks the document's conventions: auth on every
// route but the public ones, token on the streams, problem JSON on errors.
func TestOpenAPIDocumentShape(t *testing.T) {
	spec, ops := oaReadSpec(t)
	public := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/openapi.json": true, "/docs": true}
	streams := map[string]bool{"/backend/conversations/stream": true, "/backend/conversations/{id}/stream": true}
	if len(spec.Security) != 1 || spec.Security[0]["bearerAuth"] == nil {
		t.Errorf("global security = %v, want bearerAuth", spec.Security)
	}
	for name, op := range ops {
		path := name[strings.Index(name, " ")+1:]
		switch {
		case public[path] && (op.Security == nil || len(*op.Security) != 0):
			t.Errorf("%s: want security: [] (public route)", name)
		case !public[path] && op.Security != nil && !streams[path]:
			t.Errorf("%s: overrides the global security", name)
		case !public[path] && op.Responses["401"].Ref == "" && op.Responses["401"].Content == nil:
			t.Errorf("%s: no 401 response", name)
		}
		if streams[path] {
			token := false
			for _, p := range op.Parameters {
				token = token || p.Ref == "#/components/parameters/token" || p.In == "query" && p.Name == "token"
			}
			if !token {
				t.Errorf("%s: the token query parameter is not documented", name)
			}
		}
		for code, r := range op.Responses {
			if code[0] != '4' && code[0] != '5' {
				continue
			}
			if r.Ref != "" {
				r = spec.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
			}
			if _, ok := r.Content["application/problem+json"]; !ok || len(r.Content) != 1 {
				t.Errorf("%s: response %s is not application/problem+json", name, code)
			}
		}
		if op.Summary == "" || op.OperationID == "" {
			t.Errorf("%s: no summary or operationId", name)
		}
	}
}

// TestOpenAPIServedAndDocsPage checks GET /openapi.json and GET /docs through
// the whole server: the page is Swagger UI's shell under the strict CSP of
// package apidocs, with no inline script, and every script and stylesheet it
// names is served by this server. (What the page shows is the browser
// test's job: ui/docs_browser_test.go.)
func TestOpenAPIServedAndDocsPage(t *testing.T) {
	e := newEnv(t)
	r := e.doKey("", http.MethodGet, "/openapi.json", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
		!bytes.Equal(r.Body, web.OpenAPIDocument()) {
		t.Fatalf("GET /openapi.json = %d %q, %d bytes; want the embedded document", r.Status, r.Header.Get("Content-Type"), len(r.Body))
	}
	r = e.doKey("", http.MethodGet, "/docs", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	if csp := r.Header.Get("Content-Security-Policy"); csp != apidocs.CSP || strings.Contains(csp, "unsafe") {
		t.Errorf("/docs CSP = %q, want %q", csp, apidocs.CSP)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("/docs lacks X-Content-Type-Options: nosniff")
	}
	page := string(r.Body)
	if regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]`).MatchString(page) || regexp.MustCompile(`\son[a-z]+=|\sstyle=|<style`).MatchString(page) {
		t.Error("/docs holds an inline script, style or event handler")
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	assets := 0
	for _, m := range refs {
		ref := m[1]
		if ref == "data:," || ref == "openapi.json" {
			continue
		}
		if !strings.HasPrefix(ref, "docs/assets/") {
			t.Errorf("/docs refers to %q, not to one of its own assets", ref)
			continue
		}
		assets++
		a := e.doKey("", http.MethodGet, "/"+ref, nil)
		if a.Status != http.StatusOK || a.Header.Get("Content-Security-Policy") != apidocs.CSP || len(a.Body) == 0 {
			t.Errorf("GET /%s = %d, %d bytes, CSP %q", ref, a.Status, len(a.Body), a.Header.Get("Content-Security-Policy"))
		}
	}
	if assets < 3 {
		t.Errorf("/docs names %d assets, want Swagger UI's script and stylesheet and its own start script", assets)
	}
	if a := e.doKey("", http.MethodGet, "/docs/assets/nope.js", nil); a.Status != http.StatusNotFound ||
		a.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /docs/assets/nope.js = %d %q, want a problem-JSON 404", a.Status, a.Header.Get("Content-Type"))
	}
}
