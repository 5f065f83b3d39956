package apidocs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestVendoredFilesMatchTheirChecksums keeps vendor/ what
// scripts/vendor-docs.sh made of the pinned npm package: every file is
// listed in SHA256SUMS with its hash, nothing else is there, and VERSION
// names the version the script pins. A hand edit of a vendored file, or an
// upgrade that skipped the script, fails here.
func TestVendoredFilesMatchTheirChecksums(t *testing.T) {
	sums, err := os.Open(filepath.Join("vendor", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	listed := map[string]bool{"SHA256SUMS": true}
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: malformed line %q", sc.Text())
		}
		listed[name] = true
		body, err := os.ReadFile(filepath.Join("vendor", name))
		if err != nil {
			t.Errorf("%s is in SHA256SUMS but not in vendor/: %v", name, err)
			continue
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("vendor/%s: sha256 %s, SHA256SUMS says %s (run scripts/vendor-docs.sh)", name, got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("vendor")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("vendor/%s is not in SHA256SUMS", e.Name())
		}
	}

	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "vendor-docs.sh"))
	if err != nil {
		t.Fatal(err)
	}
	pkg := regexp.MustCompile(`(?m)^PACKAGE=(\S+)$`).FindSubmatch(script)
	ver := regexp.MustCompile(`(?m)^VERSION=(\S+)$`).FindSubmatch(script)
	version, _ := os.ReadFile(filepath.Join("vendor", "VERSION"))
	if pkg == nil || ver == nil || strings.TrimSpace(string(version)) != string(pkg[1])+" "+string(ver[1]) {
		t.Errorf("vendor/VERSION = %q, but scripts/vendor-docs.sh pins %q %q", version, pkg, ver)
	}
}

// TestServed checks what Mount serves: the page and every .js and .css
// asset with its type, the CSP on all of them (404s too), and revalidation
// by ETag.
func TestServed(t *testing.T) {
	e := echo.New()
	Mount(e)
	get := func(method, path string, header ...string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s lacks the security headers: %v", method, path, w.Header())
		}
		return w
	}
	want := map[string]string{
		"/docs":                             "text/html; charset=utf-8",
		"/docs/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"/docs/assets/swagger-ui.css":       "text/css; charset=utf-8",
		"/docs/assets/docs.js":              "text/javascript; charset=utf-8",
		"/docs/assets/docs.css":             "text/css; charset=utf-8",
	}
	for path, ctype := range want {
		w := get(http.MethodGet, path)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != ctype || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 %q", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len(), ctype)
		}
		etag := w.Header().Get("ETag")
		if w := get(http.MethodGet, path, "If-None-Match", etag); w.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s = %d, want 304", path, etag, w.Code)
		}
	}
	if len(assets) != len(want) {
		t.Errorf("serving %d files, want exactly %d: %v", len(assets), len(want), assets)
	}
	if w := get(http.MethodHead, "/docs/assets/docs.js"); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD /docs/assets/docs.js = %d with %d bytes", w.Code, w.Body.Len())
	}
	for _, path := range []string{"/docs/assets/LICENSE", "/docs/assets/SHA256SUMS", "/docs/assets/index.html", "/docs/assets/../page/index.html"} {
		if w := get(http.MethodGet, path); w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
	}
}
