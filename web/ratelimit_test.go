package web_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
	"github.com/parley-dev/parley/web"
)

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.RateLimitPerMinute = 5 })
	_, otherTenantKey := storetest.Tenant(t, e.store, "other")
	_, sameTenantKey, err := e.tenant.CreateKey(context.Background(), "second", "")
	if err != nil {
		t.Fatal(err)
	}

	paths := []string{"/backend/leads", "/backend/settings", "/backend/leads/missing", "/backend/assistants", "/backend/channels"}
	for i, path := range paths { // errors (the 404) cost a token too
		r := e.do("GET", path, nil)
		if r.Status == http.StatusTooManyRequests {
			t.Fatalf("request %d was limited", i+1)
		}
		if got := r.Header.Get("RateLimit-Limit"); got != "5" {
			t.Errorf("request %d: RateLimit-Limit = %q, want 5", i+1, got)
		}
		if got, want := r.Header.Get("RateLimit-Remaining"), strconv.Itoa(4-i); got != want {
			t.Errorf("request %d: RateLimit-Remaining = %q, want %s", i+1, got, want)
		}
		if reset, err := strconv.Atoi(r.Header.Get("RateLimit-Reset")); err != nil || reset < 0 || reset > 60 {
			t.Errorf("request %d: RateLimit-Reset = %q, want seconds in 0..60", i+1, r.Header.Get("RateLimit-Reset"))
		}
	}
	for _, method := range []string{"GET", "POST"} {
		r := e.do(method, "/backend/leads", `{"name":"x"}`)
		wantProblem(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After = %q, want whole seconds >= 1 (one token every 12 s)", r.Header.Get("Retry-After"))
		}
		if r.Header.Get("RateLimit-Limit") != "5" || r.Header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("429 headers: limit %q remaining %q, want 5 and 0", r.Header.Get("RateLimit-Limit"), r.Header.Get("RateLimit-Remaining"))
		}
	}
	// The refused POST stored nothing.
	if leads, _, err := e.tenant.ListLeads(context.Background(), "", store.Page{Limit: 100}); err != nil || len(leads) != 0 {
		t.Errorf("a rate-limited POST created %d leads (err %v)", len(leads), err)
	}
	// Other keys have buckets of their own, in the same tenant or not.
	for name, key := range map[string]string{"other tenant": otherTenantKey, "same tenant, second key": sameTenantKey} {
		r := e.doKey(key, "GET", "/backend/settings", nil)
		if r.Status != http.StatusOK || r.Header.Get("RateLimit-Remaining") != "4" {
			t.Errorf("%s: status %d remaining %q, want 200 and 4", name, r.Status, r.Header.Get("RateLimit-Remaining"))
		}
	}
	// Unauthenticated endpoints are not limited.
	for range 3 {
		if r := e.raw("GET", "/healthz", nil, nil); r.Status != http.StatusOK {
			t.Fatalf("/healthz = %d while the key is limited", r.Status)
		}
	}
}

func TestRateLimitOff(t *testing.T) {
	e := newEnv(t) // RateLimitPerMinute 0
	for i := range 30 {
		if r := e.do("GET", "/backend/settings", nil); r.Status != http.StatusOK {
			t.Fatalf("request %d = %d with the limiter off", i+1, r.Status)
		}
	}
}
