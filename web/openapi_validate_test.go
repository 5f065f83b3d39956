package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/parley-dev/parley/web"
)

// The validating client: every request a test sends through it and every
// response it gets back are checked against web/openapi.json with
// kin-openapi's openapi3filter, and the statuses seen per operation are
// recorded so that the test can check both outcomes of every route ran.

func init() {
	openapi3filter.RegisterBodyDecoder("text/event-stream", oaDecodeSSE)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// oaLoad parses and validates the embedded OpenAPI document with kin-openapi.
func oaLoad(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(web.OpenAPIDocument())
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) { oaLoad(t) }

// oaDecodeSSE reads an event stream as the list of its complete frames:
// {"id","retry","event","data"} with data parsed as JSON when it is JSON. A
// frame cut by the end of a short read is left out.
func oaDecodeSSE(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	blocks := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n\n")
	frames := []any{}
	for _, block := range blocks[:len(blocks)-1] {
		f := map[string]any{}
		var data []string
		for _, line := range strings.Split(block, "\n") {
			if line == "" || strings.HasPrefix(line, ":") {
				continue
			}
			name, val, _ := strings.Cut(line, ":")
			val = strings.TrimPrefix(val, " ")
			switch name {
			case "data":
				data = append(data, val)
			case "retry":
				n, err := strconv.Atoi(val)
				if err != nil {
					return nil, fmt.Errorf("retry line %q", line)
				}
				f["retry"] = float64(n)
			case "id", "event":
				f[name] = val
			default:
				return nil, fmt.Errorf("unknown SSE field in line %q", line)
			}
		}
		if data != nil {
			joined := strings.Join(data, "\n")
			var v any
			if json.Unmarshal([]byte(joined), &v) == nil {
				f["data"] = v
			} else {
				f["data"] = joined
			}
		}
		if len(f) > 0 {
			frames = append(frames, f)
		}
	}
	return frames, nil
}

// oaValidator is an http.RoundTripper that validates traffic against the document.
type oaValidator struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
	mu     sync.Mutex
	seen   map[string]map[int]bool // "METHOD /path" → statuses answered
}

func newOAValidator(t testing.TB) *oaValidator {
	doc := oaLoad(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, SkipSettingDefaults: true,
		AuthenticationFunc: oaAuthenticate}
	return &oaValidator{t: t, doc: doc, router: router, opts: opts, seen: map[string]map[int]bool{}}
}

// oaAuthenticate accepts a request that carries the scheme's credential;
// whether the key is good is the server's business.
func oaAuthenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "bearerAuth":
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return nil
		}
	case "tokenQuery":
		if r.URL.Query().Get("token") != "" {
			return nil
		}
	}
	return errors.New("no " + in.SecuritySchemeName + " credential")
}

// oaExpect is what a test says of its request, carried in its context.
type oaExpect struct {
	Invalid   bool          // the document must reject the request too (the server answers 4xx)
	Unchecked bool          // whether the document accepts the request does not matter
	Window    time.Duration // read an endless event stream for this long
}

type oaExpectKey struct{}

// RoundTrip validates the request, sends it, reads and validates the response.
func (v *oaValidator) RoundTrip(req *http.Request) (*http.Response, error) {
	exp, _ := req.Context().Value(oaExpectKey{}).(oaExpect)
	name := req.Method + " " + req.URL.RequestURI()
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		if !exp.Unchecked { // unknown paths and methods on purpose (404/405 tests); the drift test covers routes
			v.t.Errorf("%s: no operation of the document matches: %v", name, err)
		}
		return http.DefaultTransport.RoundTrip(req)
	}
	op := route.Method + " " + route.Path
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: v.opts}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)
	switch {
	case exp.Unchecked:
	case exp.Invalid && reqErr == nil:
		v.t.Errorf("%s (%s): the document accepts this request, which the server must refuse", name, op)
	case !exp.Invalid && reqErr != nil:
		v.t.Errorf("%s (%s): request does not match the document: %s", name, op, oaShort(reqErr))
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data := oaReadBody(res, exp.Window)
	res.Body = io.NopCloser(bytes.NewReader(data))
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode,
		Header: res.Header, Options: v.opts}
	rin.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(req.Context(), rin); err != nil {
		v.t.Errorf("%s (%s): response %d does not match the document: %s\nbody: %.600s", name, op, res.StatusCode, oaShort(err), data)
	}
	v.mu.Lock()
	if v.seen[op] == nil {
		v.seen[op] = map[int]bool{}
	}
	v.seen[op][res.StatusCode] = true
	v.mu.Unlock()
	return res, nil
}

// oaShort is a validation error without the schema and value dumps.
func oaShort(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\nSchema:"); i > 0 {
		msg = msg[:i]
	}
	return msg
}

// oaReadBody reads a whole body, or an endless event stream for window.
func oaReadBody(res *http.Response, window time.Duration) []byte {
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { defer close(done); io.Copy(&buf, res.Body) }()
	limit := 20 * time.Second
	if window > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		limit = window
	}
	select {
	case <-done:
	case <-time.After(limit):
	}
	res.Body.Close()
	<-done
	return buf.Bytes()
}

// checkCoverage fails unless every operation answered at least one success
// and, when it documents any, at least one error; it logs the documented
// statuses no request produced.
func (v *oaValidator) checkCoverage(t *testing.T) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	var untried []string
	for path, item := range v.doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			seen := v.seen[name]
			var okSeen, errSeen, errDocumented bool
			for code := range op.Responses.Map() {
				n, _ := strconv.Atoi(code)
				if n >= 400 {
					errDocumented = true
				}
				if !seen[n] && !oaGeneric[n] {
					untried = append(untried, name+" "+code)
				}
			}
			for code := range seen {
				okSeen = okSeen || code < 400
				errSeen = errSeen || code >= 400
			}
			if !okSeen {
				t.Errorf("%s: no request got a success response", name)
			}
			if errDocumented && !errSeen {
				t.Errorf("%s: no request got an error response", name)
			}
		}
	}
	sort.Strings(untried)
	t.Logf("documented statuses no request produced, besides 429 and 500 (%d): %s", len(untried), strings.Join(untried, ", "))
}

// oaGeneric are statuses every route may answer that only some requests
// produce (the sweep covers 401, 413 and 415 everywhere).
var oaGeneric = map[int]bool{429: true, 500: true}

var oaPathParam = regexp.MustCompile(`\{[^}]+\}`)

// oaSweep sends to every authenticated operation a request with an unknown
// key (401) and to every operation with a body one whose Content-Type cannot
// be JSON (415) and one over the body limit (413).
func oaSweep(c *oaClient, v *oaValidator) {
	big := `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	for path, item := range v.doc.Paths.Map() {
		concrete := oaPathParam.ReplaceAllString(path, "nope")
		for method, op := range item.Operations() {
			if op.Responses.Status(401) != nil {
				c.do(oaReq{Want: 401, Unchecked: true, Key: "prl_unknown"}, method, concrete, nil)
			}
			if op.RequestBody != nil {
				c.do(oaReq{Want: 415, Invalid: true, Raw: "<x/>", CT: "application/xml"}, method, concrete, nil)
				c.do(oaReq{Want: 413, Unchecked: true, Raw: big}, method, concrete, nil)
			}
		}
	}
}

// oaClient sends requests through the validator to one server.
type oaClient struct {
	t    *testing.T
	base string
	key  string
	hc   *http.Client
}

func (v *oaValidator) client(t *testing.T, base, key string) *oaClient {
	return &oaClient{t: t, base: base, key: key, hc: &http.Client{Transport: v}}
}

// oaReq is one request of a test: what it sends and what it must get.
type oaReq struct {
	Want      int
	Invalid   bool   // the document must also refuse the request
	Unchecked bool   // the request may or may not match the document
	NoAuth    bool   // send no Authorization header
	Key       string // another key than the client's
	Raw       string // a body sent as is (Body is ignored)
	CT        string // Content-Type (default application/json when there is a body)
	Header    map[string]string
	Window    time.Duration
}

// do sends method path with body (JSON unless nil) and checks the status.
func (c *oaClient) do(r oaReq, method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	switch {
	case r.Raw != "":
		rd = strings.NewReader(r.Raw)
	case body != nil:
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx := context.WithValue(context.Background(), oaExpectKey{}, oaExpect{Invalid: r.Invalid, Unchecked: r.Unchecked, Window: r.Window})
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		ct := r.CT
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	key := c.key
	if r.Key != "" {
		key = r.Key
	}
	if !r.NoAuth {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if r.Want != 0 && res.StatusCode != r.Want {
		c.t.Errorf("%s %s: status %d, want %d; body %.400s", method, path, res.StatusCode, r.Want, b)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// data decodes the "data" member of an envelope (or the whole body when
// there is none) into an object.
func (c *oaClient) data(r response) obj {
	c.t.Helper()
	var m obj
	if err := json.Unmarshal(r.Body, &m); err != nil {
		c.t.Fatalf("decode %.300s: %v", r.Body, err)
	}
	if d, ok := m["data"].(map[string]any); ok {
		return d
	}
	return m
}
