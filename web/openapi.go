package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// openAPIJSON is the OpenAPI 3.1 document of every route: the one source of
// both GET /openapi.json and the page of GET /docs. Tests check it against
// the routes echo registers and against real requests and responses.
//
//go:embed openapi.json
var openAPIJSON []byte

// OpenAPIDocument returns the OpenAPI document served at /openapi.json.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIJSON) }

// openAPIDocument is GET /openapi.json.
func (s *Server) openAPIDocument(c echo.Context) error {
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIJSON)
}

// docsPage is GET /docs: the document rendered as one HTML page with no
// script and no external resource, under a CSP that allows nothing else
// than its own (hashed) style element.
func (s *Server) docsPage(c echo.Context) error {
	page, err := renderedDocs()
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", page.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	return c.HTMLBlob(http.StatusOK, page.html)
}

type docsRender struct {
	html []byte
	csp  string
}

// renderedDocs renders the page once, from the embedded document.
var renderedDocs = sync.OnceValues(func() (docsRender, error) {
	doc, err := parseOpenAPI(openAPIJSON)
	if err != nil {
		return docsRender{}, err
	}
	html, err := renderDocs(doc)
	if err != nil {
		return docsRender{}, err
	}
	sum := sha256.Sum256([]byte(docsCSS))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return docsRender{html: html, csp: csp}, nil
})

// The page is rendered in the background at startup, so that the first
// GET /docs does not wait for it.
func init() { go renderedDocs() }

// oaObj is a JSON object of the document, its keys in document order.
type oaObj struct {
	keys []string
	vals map[string]any
}

func (o *oaObj) get(k string) any {
	if o == nil {
		return nil
	}
	return o.vals[k]
}

func (o *oaObj) obj(k string) *oaObj { v, _ := o.get(k).(*oaObj); return v }
func (o *oaObj) str(k string) string { v, _ := o.get(k).(string); return v }
func (o *oaObj) list(k string) []any { v, _ := o.get(k).([]any); return v }

// Keys returns the object's keys in document order.
func (o *oaObj) Keys() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

// decodeOrdered decodes one JSON value, keeping the order of object keys.
func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := &oaObj{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := o.vals[k]; !dup {
				o.keys = append(o.keys, k)
			}
			o.vals[k] = v
		}
		_, err = dec.Token()
		return o, err
	case '[':
		list := []any{}
		for dec.More() {
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err = dec.Token()
		return list, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// oaDoc is the parsed document with its operations in page order.
type oaDoc struct {
	root *oaObj
	tags []oaTag
}

type oaTag struct {
	Name, Description string
	Ops               []oaOp
}

type oaOp struct {
	Method, Path, ID string
	Node             *oaObj
}

// oaMethods are the operations of a path item, in the order shown.
var oaMethods = []string{"get", "post", "put", "patch", "delete", "head", "options", "trace"}

// parseOpenAPI reads the document and groups its operations by their first
// tag, in the order of the document's tags (untagged ones last) and, within
// a tag, in the order of the document's paths.
func parseOpenAPI(raw []byte) (*oaDoc, error) {
	v, err := decodeOrdered(json.NewDecoder(bytes.NewReader(raw)))
	root, _ := v.(*oaObj)
	if err != nil || root == nil {
		return nil, fmt.Errorf("openapi.json is not a JSON object: %v", err)
	}
	doc := &oaDoc{root: root}
	index := map[string]int{}
	for _, t := range root.list("tags") {
		t, _ := t.(*oaObj)
		index[t.str("name")] = len(doc.tags)
		doc.tags = append(doc.tags, oaTag{Name: t.str("name"), Description: t.str("description")})
	}
	paths := root.obj("paths")
	for _, p := range paths.Keys() {
		item := paths.obj(p)
		for _, m := range oaMethods {
			op := item.obj(m)
			if op == nil {
				continue
			}
			tag := "Other"
			if tags := op.list("tags"); len(tags) > 0 {
				tag, _ = tags[0].(string)
			}
			i, ok := index[tag]
			if !ok {
				i = len(doc.tags)
				index[tag] = i
				doc.tags = append(doc.tags, oaTag{Name: tag})
			}
			id := op.str("operationId")
			if id == "" {
				id = m + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(p)
			}
			doc.tags[i].Ops = append(doc.tags[i].Ops, oaOp{Method: m, Path: p, ID: id, Node: op})
		}
	}
	return doc, nil
}

// resolve follows a local $ref ("#/components/…/Name") and returns the
// target with the name of the component ("" when v was not a reference).
func (d *oaDoc) resolve(v any) (*oaObj, string) {
	o, _ := v.(*oaObj)
	ref := o.str("$ref")
	if !strings.HasPrefix(ref, "#/") {
		return o, ""
	}
	cur := d.root
	for _, part := range strings.Split(ref[2:], "/") {
		cur = cur.obj(strings.NewReplacer("~1", "/", "~0", "~").Replace(part))
	}
	return cur, ref[strings.LastIndex(ref, "/")+1:]
}
