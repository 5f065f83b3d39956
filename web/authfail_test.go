package web_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/parley-dev/parley/web"
)

// sendFrom GETs path with key ("" = none) and, when xff is set, an
// X-Forwarded-For header.
func (e *env) sendFrom(key, xff, path string) response {
	e.t.Helper()
	h := map[string]string{}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	if xff != "" {
		h["X-Forwarded-For"] = xff
	}
	return e.raw(http.MethodGet, path, nil, h)
}

// TestBadKeysAreThrottledPerIP: past AuthFailuresPerMinute requests with a
// missing or unknown key, an IP gets 429 RATE_LIMITED with Retry-After for
// further such requests; a key the server already knows still works from
// it, successful requests never count, and X-Forwarded-For is ignored
// unless it comes from a trusted proxy.
func TestBadKeysAreThrottledPerIP(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.AuthFailuresPerMinute = 3 })
	for i := 0; i < 20; i++ { // successes never count
		if r := e.sendFrom(e.key, "", "/backend/leads"); r.Status != http.StatusOK {
			t.Fatalf("good key = %d", r.Status)
		}
	}
	bad := []string{"", "prl_wrong_key_0123456789abcdef012345", ""}
	for _, k := range bad {
		wantProblem(t, e.sendFrom(k, "", "/backend/leads"), http.StatusUnauthorized, "UNAUTHORIZED")
	}
	for _, k := range []string{"", "prl_another_wrong_key_0123456789abcdef"} {
		r := e.sendFrom(k, "198.51.100.7", "/backend/leads") // a spoofed header changes nothing
		wantProblem(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if r := e.sendFrom(e.key, "", "/backend/leads"); r.Status != http.StatusOK {
		t.Errorf("a known key from a throttled IP = %d, want 200", r.Status)
	}
}

// TestTrustedProxyNamesTheClient: behind a trusted proxy the client is the
// X-Forwarded-For address, so one client's bad keys do not lock out another
// behind the same proxy.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	_, loopback, _ := net.ParseCIDR("127.0.0.1/32")
	e := newEnv(t, func(c *web.Config) {
		c.AuthFailuresPerMinute = 2
		c.TrustedProxies = []*net.IPNet{loopback}
	})
	for range 2 {
		wantProblem(t, e.sendFrom("", "203.0.113.9", "/backend/leads"), http.StatusUnauthorized, "UNAUTHORIZED")
	}
	wantProblem(t, e.sendFrom("", "203.0.113.9", "/backend/leads"), http.StatusTooManyRequests, "RATE_LIMITED")
	wantProblem(t, e.sendFrom("", "203.0.113.10", "/backend/leads"), http.StatusUnauthorized, "UNAUTHORIZED")
}
