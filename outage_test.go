package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

// cuttableProxy forwards TCP connections from a loopback port to target
// until cut, which closes the listener and every connection; restore
// listens on the same port again. It stands for a PostgreSQL server that
// goes away and comes back, without stopping the one other tests share.
type cuttableProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	p := &cuttableProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *cuttableProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *cuttableProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cuttableProxy) restore() { p.listen(p.addr) }

// TestPostgresOutage: while PostgreSQL cannot be reached, /readyz is 503 and
// requests are 503 UNAVAILABLE (never a 2xx that is then lost); when it is
// back, the same server recovers by itself, and everything acknowledged
// before is there.
func TestPostgresOutage(t *testing.T) {
	u, err := url.Parse(storetest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttableProxy(t, u.Host)
	u.Host = proxy.addr
	setEnv(t, "")
	t.Setenv("PARLEY_DATABASE_URL", u.String())
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	t.Setenv("PARLEY_RATE_LIMIT_PER_MINUTE", "0")
	s := startServer(t)
	tenant := s.tenantID(t, testKey)
	send := func(text string) (int, string) {
		status, _, body := s.post(t, testKey, "/ai/process", fmt.Sprintf(
			`{"tenant_id":%q,"lead_id":"outage-lead","role":"user","content":%q,"message_type":"text"}`, tenant, text))
		return status, body
	}
	if status, body := send("before"); status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", status, body)
	}

	proxy.cut()
	if code, body := s.get(t, "", "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage = %d %s, want 503", code, body)
	}
	time.Sleep(2 * time.Second) // past the key cache: authentication needs the database too
	status, body := send("during")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"UNAVAILABLE"`) {
		t.Errorf("a write during the outage = %d %s, want 503 UNAVAILABLE", status, body)
	}
	if code, body := s.get(t, testKey, "/backend/messages/outage-lead"); code != http.StatusServiceUnavailable {
		t.Errorf("a read during the outage = %d %s, want 503", code, body)
	}

	proxy.restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := s.get(t, "", "/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d 10 s after PostgreSQL came back", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, body := send("after"); status != http.StatusOK {
		t.Fatalf("a write after the outage = %d %s", status, body)
	}
	code, list := s.get(t, testKey, "/backend/messages/outage-lead?limit=100")
	if code != http.StatusOK || !strings.Contains(list, `"before"`) || !strings.Contains(list, `"after"`) {
		t.Errorf("messages after the outage = %d %s", code, list)
	}
	if strings.Contains(list, `"during"`) {
		t.Errorf("a message refused with 503 was stored after all: %s", list)
	}
}
