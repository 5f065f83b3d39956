package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-dev/parley/ai"
)

// internals are facts a problem detail must never carry: an address with
// a port (a resolver's, a dialed one), and the words of Go's net errors.
var internals = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-fA-F:]+\]:\d+|lookup |dial tcp|read tcp|no such host|i/o timeout`)

// closedPort is the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/voice.oga"
}

// wantLogged checks that the server logged cause at warn with the
// request's id.
func wantLogged(t *testing.T, e *env, r response, cause string) {
	t.Helper()
	id := r.Header.Get("X-Request-Id")
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "request_id="+id) && strings.Contains(line, cause) {
			return
		}
	}
	t.Errorf("no warn line with request_id=%s and %q in the log:\n%s", id, cause, e.logs.String())
}

// TestProcessMediaErrorDetails: each class of media failure is told with a
// fixed wording and no internal facts; the raw cause is logged at warn with
// the request id.
func TestProcessMediaErrorDetails(t *testing.T) {
	big := bytes.Repeat([]byte("a"), (16<<20)+1)
	media := newProcMedia(t, map[string]procFile{
		"/broken.ogg": {status: http.StatusInternalServerError},
		"/big.pdf":    {contentType: "application/pdf", body: big},
		"/junk.pdf":   {contentType: "application/pdf", body: []byte("%PDF-1.7\nnot really\x00")},
	})
	e := newEnvWith(t, envOpts{Provider: &procProvider{}})
	cases := []struct {
		name, kind, url string
		status          int
		detail, logged  string
	}{
		{"unresolvable host", "pdf", "http://parley-test-nothing.invalid/doc.pdf", http.StatusBadGateway,
			"could not resolve host parley-test-nothing.invalid", "lookup parley-test-nothing.invalid"},
		{"refused port", "audio", closedPort(t), http.StatusBadGateway, "connection refused", "dial tcp"},
		{"status 500", "audio", media.URL + "/broken.ogg", http.StatusBadGateway, "the server answered status 500", "500 Internal Server Error"},
		{"too large", "pdf", media.URL + "/big.pdf", http.StatusBadRequest,
			fmt.Sprintf("url is too large (the limit is %d bytes)", 16<<20), "response body too large"},
		{"unreadable", "pdf", media.URL + "/junk.pdf", http.StatusBadRequest, "url is unreadable: not a readable PDF", "not a readable PDF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead := "lead-err-" + strings.ReplaceAll(tc.name, " ", "-")
			r := e.do(http.MethodPost, "/ai/process", procMsg(e, lead, "", obj{"message_type": tc.kind, "url": tc.url}))
			code := "UPSTREAM_ERROR"
			if tc.status == http.StatusBadRequest {
				code = "VALIDATION_ERROR"
			}
			p := wantProblem(t, r, tc.status, code)
			if !strings.Contains(p.Detail, tc.detail) || p.Error.Message != p.Detail {
				t.Errorf("detail = %q, want it to say %q", p.Detail, tc.detail)
			}
			if internals.MatchString(p.Detail) {
				t.Errorf("detail %q carries internal facts", p.Detail)
			}
			if tc.status == http.StatusBadRequest && (len(p.Errors) != 1 || p.Errors[0].Field != "url") {
				t.Errorf("errors = %+v, want url named", p.Errors)
			}
			if _, text := procExtracted(t, e, lead); text != "" {
				t.Errorf("extracted_text = %q", text)
			}
			wantLogged(t, e, r, tc.logged)
		})
	}
}

// TestProviderErrorDetails: a provider failure is told as the operation and
// a status, a timeout or "could not be reached", on /ai/process and on the
// agent chat route alike; the provider's words and addresses only reach
// the log.
func TestProviderErrorDetails(t *testing.T) {
	cause := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 255, 255, 53), Port: 11434},
		Err: errors.New("connect: connection refused")}
	cases := []struct {
		name   string
		err    error
		detail string
	}{
		{"unreachable", &ai.UpstreamError{Op: "chat", Err: cause}, "chat: the provider could not be reached"},
		{"status", &ai.UpstreamError{Op: "chat", StatusCode: 503, Err: errors.New(`{"error":"model llama3 not loaded on 10.1.2.3:11434"}`)},
			"chat: the provider answered status 503"},
		{"timeout", &ai.UpstreamError{Op: "chat", Err: context.DeadlineExceeded}, "chat: timed out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &procProvider{complete: func(context.Context, int, ai.Request) (string, error) { return "", tc.err }}
			e := newEnvWith(t, envOpts{Provider: p})
			conv := agentCreate(t, e, agentBot(t, e), nil)
			for _, r := range []response{
				e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-prov", "oi")),
				e.do(http.MethodPost, "/conversation/complete/"+conv, obj{"text": "oi"}),
			} {
				pj := wantProblem(t, r, http.StatusBadGateway, "UPSTREAM_ERROR")
				if !strings.Contains(pj.Detail, tc.detail) || internals.MatchString(pj.Detail) || strings.Contains(pj.Detail, "llama3") {
					t.Errorf("detail = %q, want %q and nothing internal", pj.Detail, tc.detail)
				}
				wantLogged(t, e, r, "AI provider failed")
			}
		})
	}
}

// TestGuardNamesItsSetting: the SSRF refusal says which setting lets a
// local test reach private addresses.
func TestGuardNamesItsSetting(t *testing.T) {
	e := newEnvWith(t, envOpts{GuardPrivate: true})
	r := e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-guard", "", obj{"message_type": "pdf", "url": "http://127.0.0.1:9/doc.pdf"}))
	wantFields(t, r, "url")
	if body := string(r.Body); !strings.Contains(body, "PARLEY_ALLOW_PRIVATE_NETWORKS=true") {
		t.Errorf("refusal %s does not name PARLEY_ALLOW_PRIVATE_NETWORKS=true", body)
	}
}
