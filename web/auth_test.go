package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/web"
)

func TestAuthRefusesBadCredentials(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		path   string
		header map[string]string
	}{
		{"no key", "/backend/leads", nil},
		{"unknown key", "/backend/leads", map[string]string{"Authorization": "Bearer prl_not-a-key"}},
		{"empty bearer", "/backend/leads", map[string]string{"Authorization": "Bearer "}},
		{"basic auth with the real key", "/backend/leads", map[string]string{"Authorization": "Basic " + e.key}},
		{"bare key without scheme", "/backend/leads", map[string]string{"Authorization": e.key}},
		{"token query on a non-SSE route", "/backend/leads?token=" + url.QueryEscape(e.key), nil},
		{"token query on settings", "/backend/settings?token=" + url.QueryEscape(e.key), nil},
	}
	// Paths and methods that are no route are 404 and 405 with or without a
	// key: authentication belongs to routes, and route names are no secret.
	wantProblem(t, e.raw(http.MethodGet, "/backend/nothing-here", nil, nil), http.StatusNotFound, "NOT_FOUND")
	wantProblem(t, e.raw(http.MethodPatch, "/backend/leads", nil, map[string]string{"Authorization": "Bearer " + e.key}),
		http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(http.MethodGet, tc.path, nil, tc.header)
			p := wantProblem(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
			if strings.Contains(string(r.Body), e.key) {
				t.Fatalf("401 body echoes the key: %s", r.Body)
			}
			if p.Instance != strings.Split(tc.path, "?")[0] {
				t.Errorf("instance = %q, want the path %q", p.Instance, strings.Split(tc.path, "?")[0])
			}
		})
	}
	// The same key as Bearer works: the refusals above are about the form.
	wantData[[]obj](t, e.do(http.MethodGet, "/backend/leads", nil), http.StatusOK)
	// The scheme is case-insensitive (RFC 9110 §11.1).
	r := e.raw(http.MethodGet, "/backend/leads", nil, map[string]string{"Authorization": "bearer " + e.key})
	wantData[[]obj](t, r, http.StatusOK)
}

func TestRevokedKeyStopsWithinTwoSeconds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k, secret, err := e.tenant.CreateKey(ctx, "to-revoke", "")
	if err != nil {
		t.Fatal(err)
	}
	// Use it first so that the server caches it.
	wantData[obj](t, e.doKey(secret, http.MethodGet, "/backend/settings", nil), http.StatusOK)
	if _, err := e.store.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	var last response
	eventually(t, 2*time.Second, "revoked key refused (API.md §7: within 2 s)", func() bool {
		last = e.doKey(secret, http.MethodGet, "/backend/settings", nil)
		return last.Status == http.StatusUnauthorized
	})
	wantProblem(t, last, http.StatusUnauthorized, "UNAUTHORIZED")
	t.Logf("revoked key refused after %v", time.Since(revoked).Round(time.Millisecond))
	// The tenant's other key is untouched.
	wantData[obj](t, e.do(http.MethodGet, "/backend/settings", nil), http.StatusOK)
}

func TestHealthAndReadinessNeedNoKey(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		r := e.raw(http.MethodGet, path, nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200: %s", path, r.Status, r.Body)
		}
		var body map[string]string
		r.JSON(t, &body)
		if body["status"] != want {
			t.Errorf("GET %s = %v, want status %q", path, body, want)
		}
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.RateLimitPerMinute = 42 })
	r := e.do(http.MethodGet, "/backend/settings", nil)
	env := wantData[obj](t, r, http.StatusOK)
	d := env.Data
	if len(d) != 4 {
		t.Errorf("settings has %d members, want exactly tenant_id, name, postback_secret, rate_limit_per_minute: %s", len(d), r.Body)
	}
	if str(t, d, "tenant_id") != e.tenant.ID() {
		t.Errorf("tenant_id = %v, want %s", d["tenant_id"], e.tenant.ID())
	}
	if str(t, d, "name") != "acme" {
		t.Errorf("name = %v, want acme", d["name"])
	}
	if s := str(t, d, "postback_secret"); !strings.HasPrefix(s, "whsec_") || len(s) < len("whsec_")+32 {
		t.Errorf("postback_secret = %q, want whsec_ and a long random part", s)
	}
	if n, ok := d["rate_limit_per_minute"].(float64); !ok || n != 42 {
		t.Errorf("rate_limit_per_minute = %v, want 42", d["rate_limit_per_minute"])
	}
	if env.Pagination != nil {
		t.Errorf("settings is not a list but carries pagination: %s", r.Body)
	}
}

// TestLogsHoldNoSecrets runs a mix of requests, good and bad, and checks that
// neither a key nor an Authorization header reaches the server log.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.RateLimitPerMinute = 3 })
	ctx := context.Background()
	k2, secret2, err := e.tenant.CreateKey(ctx, "second", "")
	if err != nil {
		t.Fatal(err)
	}
	const bogus = "prl_bogus-key-that-must-not-be-logged"
	e.do(http.MethodGet, "/backend/settings", nil)
	e.do(http.MethodPost, "/backend/leads", obj{"name": "Ana", "phone": "+5511999990000"})
	e.do(http.MethodPost, "/backend/leads", "{not json")
	e.do(http.MethodGet, "/backend/leads/nope", nil)
	e.do(http.MethodGet, "/backend/leads", nil) // 4th: rate limited
	e.doKey(bogus, http.MethodGet, "/backend/leads", nil)
	e.raw(http.MethodGet, "/backend/leads?token="+url.QueryEscape(secret2), nil, nil)
	e.raw(http.MethodGet, "/backend/leads", nil, map[string]string{"Authorization": "Basic " + secret2})
	e.doKey(secret2, http.MethodGet, "/backend/channels?limit=0", nil)
	if _, err := e.store.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "/backend/leads") {
		t.Fatalf("the log does not show the requests at all:\n%s", logs)
	}
	for _, secret := range []string{e.key, secret2, bogus, strings.TrimPrefix(e.key, "prl_"), strings.TrimPrefix(secret2, "prl_")} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds key material %q:\n%s", secret, logs)
		}
	}
	for _, word := range []string{"Authorization", "authorization", "Bearer", "token="} {
		if strings.Contains(logs, word) {
			t.Errorf("the log mentions %q:\n%s", word, logs)
		}
	}
}
