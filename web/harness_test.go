package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/ai/queue"
	"github.com/parley-dev/parley/app"
	"github.com/parley-dev/parley/delivery"
	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
	"github.com/parley-dev/parley/stream"
	"github.com/parley-dev/parley/web"
)

// env is one running server over a real store, with a tenant and its key:
// the real broker, turn pipeline, debounce scheduler and delivery worker,
// wired by package app as main's are.
type env struct {
	t        testing.TB
	srv      *httptest.Server
	store    *store.Store
	tenant   *store.Tenant
	key      string
	logs     *lockedWriter // everything the server logged, at debug level and up
	broker   *stream.Broker
	pipeline *ai.Pipeline
	handler  *echo.Echo // the server's handler, for in-process requests
	oaOnce   *sync.Once
	oa       *oaValidator
}

// validator returns the env's OpenAPI checker, made on first use.
func (e *env) validator() *oaValidator {
	e.oaOnce.Do(func() { e.oa = newOAValidator(e.t) })
	return e.oa
}

// routes lists the routes echo registered.
func (e *env) routes() []*echo.Route { return e.handler.Routes() }

// envOpts changes what newEnvWith builds.
type envOpts struct {
	Provider ai.Provider // nil: the builtin provider with its defaults
	// GuardPrivate turns the SSRF guard on for media fetches and URLs
	// (tests serve media from loopback, so it is off by default).
	GuardPrivate bool
	Stream       stream.Options
	// DeliverySchedule is the outbox retry schedule (nil: 1m,5m,30m).
	DeliverySchedule []time.Duration
	Mutate           []func(*web.Config)
	// AIQueue admits provider calls (nil: the pipeline's default queue);
	// BatchRetryDelay is the base wait before a failed batch is retried.
	AIQueue         *queue.Queue
	BatchRetryDelay time.Duration
	// MediaMemory caps fetched media held in memory (nil: no cap).
	MediaMemory *netguard.Budget
}

// newEnv starts the real echo server through httptest with the default
// config; mutate lets a test change it first.
func newEnv(t *testing.T, mutate ...func(*web.Config)) *env {
	t.Helper()
	return newEnvWith(t, envOpts{Mutate: mutate})
}

// newEnvWith is newEnv with a choice of provider, guard and stream options.
// The server is app's, wired as main wires it; only the test's choices and
// the media and PDF limits main would read from its defaults are set here.
func newEnvWith(t testing.TB, o envOpts) *env {
	t.Helper()
	logs := &lockedWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	schedule := o.DeliverySchedule
	if schedule == nil {
		schedule = delivery.DefaultSchedule
	}
	cfg := app.Config{DB: storetest.Target(t), Schema: storetest.Schema(t), MaxBodyBytes: 1 << 20,
		MediaTimeout: 10 * time.Second, MaxMediaBytes: 16 << 20, MaxPDFPages: 50, MaxPDFChars: 20000,
		DeliveryTimeout: 5 * time.Second, AllowPrivateNetworks: !o.GuardPrivate, Logger: log}
	a, err := app.New(context.Background(), cfg, app.Options{Provider: o.Provider, Stream: &o.Stream,
		DeliverySchedule: schedule, AIQueue: o.AIQueue, BatchRetryDelay: o.BatchRetryDelay, MediaMemory: o.MediaMemory,
		Web: func(c *web.Config) {
			for _, m := range o.Mutate {
				m(c)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		a.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler)
	srv.Config.RegisterOnShutdown(a.OnShutdown)
	srv.Start()
	t.Cleanup(func() {
		a.OnShutdown()
		srv.Close()
		a.Close()
	})
	ten, key := storetest.Tenant(t, a.Store, "acme")
	return &env{t: t, srv: srv, store: a.Store, tenant: ten, key: key, logs: logs, broker: a.Broker, pipeline: a.Pipeline,
		handler: a.Handler, oaOnce: &sync.Once{}}
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
	// Every response of every web test is checked against web/openapi.json
	// (requests are not: tests send bad ones on purpose).
	req = req.WithContext(context.WithValue(req.Context(), oaExpectKey{}, oaExpect{Unchecked: true}))
	res, err := (&http.Client{Transport: e.validator()}).Do(req)
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
