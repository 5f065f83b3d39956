// Package ui is Parley's inbox: a small web app embedded in the binary, so
// that a self-hoster who starts `parley` opens http://localhost:8080/, signs
// in with an API key and watches conversations arrive live, with no extra
// service to run, nothing to build and nothing fetched from a CDN.
//
// The app is plain HTML, CSS and ES modules (static/). It is a client of the
// public API like any other: it reads /backend/conversations and
// /backend/messages, acts through the same routes, and follows
// /backend/conversations/stream with EventSource. The server gives it no
// special access; the API key stays in the tab's sessionStorage.
//
// Every response carries a strict Content-Security-Policy (no inline script
// or style, nothing from other origins except media shown in messages),
// nosniff, no-referrer and frame denial. Files are revalidated on every load
// (Cache-Control: no-cache with a content ETag), so an upgraded binary is
// picked up at once and an unchanged one costs a 304.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every UI response. Scripts, styles,
// fonts and API calls are same-origin only, with no inline code; images and
// audio in messages live on the integrator's servers, so img-src and
// media-src also allow http(s) URLs.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; " +
	"media-src 'self' https: http:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// contentTypes are the types of the embedded files, by extension: fixed here
// rather than read from the system's MIME table, which varies by machine.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file ready to serve.
type file struct {
	body  []byte
	ctype string
	etag  string
}

// files maps URL paths to files: "/" is index.html, "/assets/x" is
// static/assets/x.
var files = load()

func load() map[string]file {
	out := map[string]file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil // not served: only known types leave the binary
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		urlPath := strings.TrimPrefix(p, "static")
		if urlPath == "/index.html" {
			urlPath = "/"
		}
		out[urlPath] = file{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("ui: read embedded files: " + err.Error()) // the embed is part of the binary: cannot happen
	}
	return out
}

// SetSecurityHeaders sets the headers every UI response carries.
func SetSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// Handler serves the inbox: GET / is the page, GET /assets/… its scripts,
// styles and icon. Anything else is 404, any other method 405.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	SetSecurityHeaders(h)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := files[r.URL.Path]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("Content-Type", f.ctype)
	// ServeContent answers If-None-Match against the ETag set above (a 304
	// without a body), HEAD (Content-Length, no body) and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// Mount registers the inbox on e: GET and HEAD of / and /assets/*. It claims
// no other path, so unknown API paths stay the API's problem-JSON 404; an
// unknown asset is that same 404 (with the UI's security headers).
func Mount(e *echo.Echo) {
	h := func(c echo.Context) error {
		if _, ok := files[c.Request().URL.Path]; !ok {
			SetSecurityHeaders(c.Response().Header())
			return echo.ErrNotFound
		}
		serve(c.Response(), c.Request())
		return nil
	}
	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, "/", h)
	e.Match(methods, "/assets/*", h)
}
