package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
	"github.com/parley-dev/parley/web"
)

// env is one running server over a real store, with a tenant and its key.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	store  *store.Store
	tenant *store.Tenant
	key    string
	logs   *lockedWriter // everything the server logged, at debug level and up
}

// newEnv starts the real echo server through httptest with the default
// config; mutate lets a test change it first.
func newEnv(t *testing.T, mutate ...func(*web.Config)) *env {
	t.Helper()
	st := storetest.New(t)
	logs := &lockedWriter{w: &bytes.Buffer{}}
	cfg := web.Config{MaxBodyBytes: 1 << 20, RateLimitPerMinute: 0,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mutate {
		m(&cfg)
	}
	srv := httptest.NewServer(web.New(cfg, st))
	t.Cleanup(srv.Close)
	ten, key := storetest.Tenant(t, st, "acme")
	return &env{t: t, srv: srv, store: st, tenant: ten, key: key, logs: logs}
}

// response is a finished request: status, headers and the body read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// do sends a request with the env's key. body may be nil, a string or
// []byte (sent as is), or anything else (sent as JSON).
func (e *env) do(method, path string, body any) response {
	e.t.Helper()
	return e.doKey(e.key, method, path, body)
}

// doKey is do with another key ("" sends no Authorization header).
func (e *env) doKey(key, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
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

// problemJSON is the error body of API.md §1.
type problemJSON struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	Success  *bool  `json:"success"`
	Error    struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// wantProblem checks that r is a problem+json with this status and code.
func wantProblem(t *testing.T, r response, status int, code string) problemJSON {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemJSON
	r.JSON(t, &p)
	if p.Status != status || p.Error.Code != code || p.Success == nil || *p.Success || p.Title == "" || p.Type == "" || p.Instance == "" {
		t.Fatalf("problem = %+v, want status %d code %s with type, title, instance and success:false", p, status, code)
	}
	return p
}
