package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/web"
)

// rawRequest writes head and the first part of a body on a fresh
// connection, then stalls, and returns the response the server sent (nil
// when none came within wait) and whether the server then closed the
// connection.
func rawRequest(t *testing.T, e *env, head, partial string, wait time.Duration) (*http.Response, bool) {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(head + "\r\n" + partial)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, false
	}
	buf := make([]byte, 1<<16)
	for {
		if _, err := res.Body.Read(buf); err != nil {
			break
		}
	}
	res.Body.Close()
	// The server closes its side: a further read sees EOF before the deadline.
	_, err = br.ReadByte()
	closed := err != nil && !isTimeout(err)
	return res, closed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestSlowBodyIs408: a body that does not arrive within the body timeout is
// answered 408 and the connection is closed; the goroutine is not held.
func TestSlowBodyIs408(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.BodyTimeout = 300 * time.Millisecond })
	head := fmt.Sprintf("POST /backend/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n", e.key)
	start := time.Now()
	res, closed := rawRequest(t, e, head, `{"name":`, 5*time.Second)
	if res == nil {
		t.Fatalf("no answer within 5 s to a body stalled after 8 bytes (timeout 300ms)")
	}
	if res.StatusCode != http.StatusRequestTimeout || !closed {
		t.Fatalf("stalled body = %d (closed %v) after %v, want 408 and a closed connection", res.StatusCode, closed, time.Since(start))
	}
	if res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("408 is not problem JSON: %q", res.Header.Get("Content-Type"))
	}
}

// TestRefusalBeforeBodyIsImmediate: a request refused before its body is
// read (no key, or a declared body over the limit) is answered at once with
// Connection: close, however slowly the body comes (here: never).
func TestRefusalBeforeBodyIsImmediate(t *testing.T) {
	e := newEnv(t) // body timeout at its 30 s default
	cases := []struct {
		name, head string
		status     int
	}{
		{"no key", "POST /backend/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n", 401},
		{"too large", fmt.Sprintf("POST /backend/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: 99999999\r\n", e.key), 413},
		{"not json", fmt.Sprintf("POST /backend/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: image/png\r\nContent-Length: 1000\r\n", e.key), 415},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, closed := rawRequest(t, e, tc.head, "{", 3*time.Second)
			if res == nil {
				t.Fatalf("no answer within 3 s while the body stalls")
			}
			if res.StatusCode != tc.status || !res.Close || !closed {
				t.Fatalf("= %d, Connection: close %v, closed %v; want %d with Connection: close", res.StatusCode,
					res.Close, closed, tc.status)
			}
		})
	}
}

// TestBodyDeadlineIsLiftedForSlowHandlers: once the body is in, the handler
// may take longer than the body timeout (a synchronous AI turn) without its
// request being cancelled.
func TestBodyDeadlineIsLiftedForSlowHandlers(t *testing.T) {
	slow, err := ai.NewBuiltin(ai.BuiltinConfig{Delay: 900 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, envOpts{Provider: slow, Mutate: []func(*web.Config){func(c *web.Config) { c.BodyTimeout = 200 * time.Millisecond }}})
	r := e.do(http.MethodPost, "/ai/process", obj{"tenant_id": e.tenant.ID(), "lead_id": "slow-lead", "role": "user",
		"content": "take your time", "message_type": "text"})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "take your time") {
		t.Fatalf("slow AI turn after a prompt body = %d %s, want 200 with the answer", r.Status, r.Body)
	}
}
