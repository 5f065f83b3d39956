package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func wantSecurityHeaders(t *testing.T, path string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": CSP,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", path, k, got, v)
		}
	}
}

func TestHandlerServesTheAppWithStrictHeaders(t *testing.T) {
	h := Handler()
	cases := map[string]string{
		"/":                       "text/html; charset=utf-8",
		"/assets/app.js":          "text/javascript; charset=utf-8",
		"/assets/api.js":          "text/javascript; charset=utf-8",
		"/assets/stream.js":       "text/javascript; charset=utf-8",
		"/assets/state.js":        "text/javascript; charset=utf-8",
		"/assets/list.js":         "text/javascript; charset=utf-8",
		"/assets/conversation.js": "text/javascript; charset=utf-8",
		"/assets/messages.js":     "text/javascript; charset=utf-8",
		"/assets/dom.js":          "text/javascript; charset=utf-8",
		"/assets/style.css":       "text/css; charset=utf-8",
		"/assets/icon.svg":        "image/svg+xml",
	}
	for path, ctype := range cases {
		w := get(t, h, http.MethodGet, path, nil)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, w.Code)
			continue
		}
		if got := w.Header().Get("Content-Type"); got != ctype {
			t.Errorf("GET %s Content-Type = %q, want %q", path, got, ctype)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q, want no-cache (revalidate: the files change with the binary)", path, got)
		}
		wantSecurityHeaders(t, path, w.Header())

		// Revalidation with the ETag is a 304 without a body.
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s has no ETag", path)
		}
		w2 := get(t, h, http.MethodGet, path, map[string]string{"If-None-Match": etag})
		if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
			t.Errorf("GET %s If-None-Match = %d with %d bytes, want 304 and none", path, w2.Code, w2.Body.Len())
		}
		wantSecurityHeaders(t, path+" (304)", w2.Header())

		head := get(t, h, http.MethodHead, path, nil)
		if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD %s = %d with %d bytes, want 200, no body and a Content-Length", path, head.Code, head.Body.Len())
		}
	}
}

func TestHandlerRefusesOtherPathsAndMethods(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/index.html", "/assets/", "/assets/nope.js", "/static/index.html", "/assets/../ui.go", "/backend/leads"} {
		w := get(t, h, http.MethodGet, path, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
		wantSecurityHeaders(t, path, w.Header())
	}
	w := get(t, h, http.MethodPost, "/", nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d (Allow %q), want 405 with Allow: GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
}

// The app's own rules, checked on the embedded files: no inline script or
// style (the CSP would block them anyway, so they would be bugs), nothing
// from another origin, no way to turn text into HTML, small modules.
func TestStaticFilesFollowTheRules(t *testing.T) {
	index, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(index)
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, `src="/assets/`) || !strings.Contains(m, `type="module"`) {
			t.Errorf("index.html has a script that is not a same-origin module file: %s", m)
		}
	}
	for _, bad := range []string{"<style", " style=", "javascript:", " onclick=", " onload=", "onerror="} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("index.html contains %q (inline code or style)", bad)
		}
	}
	err = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		src := string(b)
		if regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).MatchString(src) || strings.Contains(src, "@import") {
			t.Errorf("%s loads something from another origin", p)
		}
		if strings.HasSuffix(p, ".js") {
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", ".style."} {
				if strings.Contains(src, bad) {
					t.Errorf("%s uses %s", p, bad)
				}
			}
			if n := strings.Count(src, "\n"); n > 300 {
				t.Errorf("%s has %d lines; keep modules under 300", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
