// Package apidocs serves GET /docs: Swagger UI, vendored into the binary,
// reading the server's own /openapi.json.
//
// Swagger UI was picked over Redoc and Scalar because it is the one that
// needs the least from the CSP: its styles are one stylesheet (React sets
// style properties through the CSSOM, which the CSP does not govern), so the
// page runs with script-src and style-src 'self' and nothing inline. Redoc
// (styled-components) and Scalar (Vue, CSS injected from its script) insert
// <style> elements at run time and so need style-src 'unsafe-inline'; Redoc
// also has no "try it", and Scalar's standalone bundle is about 4.9 MB and
// loads its fonts from a CDN unless told not to.
//
// The vendored files (vendor/) are the npm package's dist files, byte for
// byte: scripts/vendor-docs.sh fetches them and writes vendor/SHA256SUMS,
// which a test checks. The page itself (page/) is Parley's: the HTML shell,
// the script that starts Swagger UI, and a few styles.
package apidocs

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed page vendor
var files embed.FS

// CSP is the Content-Security-Policy of /docs and its assets. Everything is
// same-origin and nothing is inline; img-src allows data: because Swagger
// UI's stylesheet draws its icons as data: URLs; connect-src 'self' lets
// "try it" call this server and nothing else.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// assetTypes are the types of the files served under /docs/assets/: fixed
// here rather than read from the system's MIME table, which varies by machine.
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// asset is one embedded file ready to serve. Its bytes stay in the binary
// (name in files) and are streamed from there: a copy on the heap would add
// 1.9 MB to every server's idle memory for a page few ever open.
type asset struct {
	name  string
	ctype string
	etag  string
}

// assets maps the URL paths under /docs to files: "/docs" is the page,
// "/docs/assets/x" is page/x or vendor/x. Only .js and .css leave the binary
// as assets; the licences are in the repository and the binary, not on the
// wire.
var assets = load()

func load() map[string]asset {
	out := map[string]asset{}
	add := func(urlPath, name, ctype string) {
		f, err := files.Open(name)
		if err != nil {
			panic("apidocs: read embedded " + name + ": " + err.Error()) // part of the binary: cannot happen
		}
		defer f.Close()
		sum := sha256.New()
		if _, err := io.Copy(sum, f); err != nil {
			panic("apidocs: read embedded " + name + ": " + err.Error())
		}
		out[urlPath] = asset{name: name, ctype: ctype, etag: `"` + hex.EncodeToString(sum.Sum(nil)[:12]) + `"`}
	}
	add("/docs", "page/index.html", "text/html; charset=utf-8")
	for _, dir := range []string{"page", "vendor"} {
		entries, err := files.ReadDir(dir)
		if err != nil {
			panic("apidocs: list embedded " + dir + ": " + err.Error())
		}
		for _, e := range entries {
			if ctype, ok := assetTypes[path.Ext(e.Name())]; ok {
				add("/docs/assets/"+e.Name(), dir+"/"+e.Name(), ctype)
			}
		}
	}
	return out
}

// SetSecurityHeaders sets the headers of every /docs response, 404s included.
func SetSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// Mount registers GET /docs (the page, as documented in openapi.json) and
// GET and HEAD /docs/assets/* (its scripts and styles) on e.
func Mount(e *echo.Echo) {
	h := func(c echo.Context) error {
		SetSecurityHeaders(c.Response().Header())
		a, ok := assets[c.Request().URL.Path]
		if !ok {
			return echo.ErrNotFound
		}
		serve(c.Response(), c.Request(), a)
		return nil
	}
	e.GET("/docs", h)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/docs/assets/*", h)
}

// serve writes a with its ETag through http.ServeContent, which answers
// If-None-Match, HEAD and ranges. Every load revalidates (no-cache), so an
// upgraded binary's files are picked up at once and an unchanged one costs a
// 304.
func serve(w http.ResponseWriter, r *http.Request, a asset) {
	f, err := files.Open(a.name)
	if err != nil { // part of the binary: cannot happen
		http.Error(w, "missing embedded file", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, f.(io.ReadSeeker)) // embed's files seek
}
