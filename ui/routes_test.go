package ui_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/ui"
)

// The inbox is mounted in web.New next to the API and must not shadow any
// of it: unknown API paths stay problem JSON, every dialect still answers.
func TestInboxMountedBesideTheAPI(t *testing.T) {
	s := startServer(t)
	fetch := func(method, path string, auth bool) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+s.Key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	res, body := fetch(http.MethodGet, "/", false)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<script type="module" src="/assets/app.js">`) {
		t.Fatalf("GET / = %d %q, want the inbox page", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Content-Security-Policy") != ui.CSP || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET / lacks the security headers: %v", res.Header)
	}
	res, _ = fetch(http.MethodGet, "/assets/app.js", false)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("GET /assets/app.js = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}

	// Not found stays the API's problem JSON, inside and outside the UI's paths.
	for _, p := range []string{"/assets/nope.js", "/backend/nothing-here", "/nothing", "/index.html"} {
		res, body := fetch(http.MethodGet, p, true)
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(body, `"NOT_FOUND"`) {
			t.Errorf("GET %s = %d %q %s, want a problem-JSON 404", p, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
	if res, _ := fetch(http.MethodGet, "/assets/nope.js", false); res.Header.Get("Content-Security-Policy") != ui.CSP {
		t.Errorf("an unknown asset's 404 lacks the CSP")
	}
	if res, _ := fetch(http.MethodPost, "/", true); res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusNotFound {
		t.Errorf("POST / = %d, want 405 (or 404)", res.StatusCode)
	}

	// Every dialect and the operational routes still answer.
	for _, p := range []string{"/healthz", "/readyz", "/bot", "/conversation", "/backend/conversations", "/backend/settings"} {
		if res, body := fetch(http.MethodGet, p, true); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", p, res.StatusCode, body)
		}
	}
	if res, _ := fetch(http.MethodGet, "/backend/leads", false); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /backend/leads without a key = %d, want 401 (the UI route must not open the API)", res.StatusCode)
	}
	out := s.process("5511912345678@s.whatsapp.net", "oi", nil)
	if out["response"] != "You said: oi" {
		t.Errorf("POST /ai/process = %v", out)
	}
	id := out["conversation_id"].(string)
	if c := s.conversation(id); c["id"] != id {
		t.Errorf("GET /backend/conversations/{id} = %v", c)
	}

	// The stream with ?token= (as EventSource opens it).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/backend/conversations/stream?token="+s.Key, nil)
	sres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sres.Body.Close()
	line, _ := bufio.NewReader(sres.Body).ReadString('\n')
	if sres.StatusCode != http.StatusOK || !strings.HasPrefix(sres.Header.Get("Content-Type"), "text/event-stream") ||
		!strings.HasPrefix(line, "retry:") {
		t.Errorf("stream = %d %q first line %q", sres.StatusCode, sres.Header.Get("Content-Type"), line)
	}
}
