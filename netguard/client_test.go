package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// target is an httptest server that counts every connection and request it
// receives, to prove that a refused URL never reaches it.
type target struct {
	*httptest.Server
	conns atomic.Int64
	hits  atomic.Int64
}

func newTarget(t *testing.T, network, addr string) *target {
	t.Helper()
	tg := &target{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "secret internal data")
	}))
	if addr != "" {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tg.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tg.Server = srv
	return tg
}

func (tg *target) port(t *testing.T) string {
	u, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func (tg *target) assertUntouched(t *testing.T) {
	t.Helper()
	if c, h := tg.conns.Load(), tg.hits.Load(); c != 0 || h != 0 {
		t.Fatalf("target was reached: %d connections, %d requests", c, h)
	}
}

// treatPortAsPublic makes loopback addresses on one port count as public
// for the duration of the test, to simulate a public first hop.
func treatPortAsPublic(t *testing.T, port string) {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	orig := publicAddr
	publicAddr = func(ap netip.AddrPort) bool {
		if ap.Addr().Unmap().IsLoopback() && ap.Port() == uint16(p) {
			return true
		}
		return orig(ap)
	}
	t.Cleanup(func() { publicAddr = orig })
}

func TestGuardRefusesPrivateDestinations(t *testing.T) {
	v4 := newTarget(t, "", "")
	v6 := newTarget(t, "tcp6", "[::1]:0")
	client := NewClient(Options{Timeout: 5 * time.Second})
	ctx := context.Background()

	cases := []struct {
		name string
		url  string
		tg   *target
	}{
		{"loopback v4", "http://127.0.0.1:" + v4.port(t) + "/", v4},
		{"loopback v6", "http://[::1]:" + v6.port(t) + "/", v6},
		{"localhost name", "http://localhost:" + v4.port(t) + "/", v4},
		{"private", "http://10.0.0.1/", nil},
		{"metadata", "http://169.254.169.254/latest/meta-data/", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Through Fetch: refused at intake or at dial.
			_, _, err := Fetch(ctx, client, c.url, 1<<20)
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("Fetch(%s) error = %v, want ErrBlocked", c.url, err)
			}
			if errors.Is(err, ErrUpstream) {
				t.Fatalf("a refusal must not look like an upstream failure: %v", err)
			}
			// Straight through the client, skipping the intake check: the
			// dial-time check alone must refuse it (localhost resolves here).
			resp, err := client.Get(c.url)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("client.Get(%s) succeeded", c.url)
			}
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("client.Get(%s) error = %v, want ErrBlocked", c.url, err)
			}
			if c.tg != nil {
				c.tg.assertUntouched(t)
			}
		})
	}

	t.Run("allow private", func(t *testing.T) {
		open := NewClient(Options{AllowPrivate: true, Timeout: 5 * time.Second})
		for _, u := range []string{
			"http://127.0.0.1:" + v4.port(t) + "/",
			"http://localhost:" + v4.port(t) + "/",
			"http://[::1]:" + v6.port(t) + "/",
		} {
			resp, err := open.Get(u)
			if err != nil {
				t.Fatalf("AllowPrivate: Get(%s): %v", u, err)
			}
			resp.Body.Close()
		}
		if v4.hits.Load() != 2 || v6.hits.Load() != 1 {
			t.Fatalf("hits v4=%d v6=%d, want 2 and 1", v4.hits.Load(), v6.hits.Load())
		}
	})
}

func TestGuardRefusesRedirectToPrivate(t *testing.T) {
	tg := newTarget(t, "", "")
	var redirectTo atomic.Value
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			fmt.Fprint(w, "public hello")
			return
		}
		http.Redirect(w, r, redirectTo.Load().(string), http.StatusFound)
	}))
	t.Cleanup(public.Close)
	pu, _ := url.Parse(public.URL)
	treatPortAsPublic(t, pu.Port())
	ctx := context.Background()

	// The simulated public server itself is reachable with the guard on.
	data, _, err := Fetch(ctx, NewClient(Options{}), public.URL+"/ok", 1024)
	if err != nil || string(data) != "public hello" {
		t.Fatalf("public first hop: %q, %v", data, err)
	}

	for _, dest := range []string{
		"http://127.0.0.1:" + tg.port(t) + "/internal",
		"http://localhost:" + tg.port(t) + "/internal",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:127.0.0.1]:" + tg.port(t) + "/",
	} {
		t.Run(dest, func(t *testing.T) {
			redirectTo.Store(dest)
			_, _, err := Fetch(ctx, NewClient(Options{}), public.URL+"/start", 1<<20)
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("redirect to %s: error = %v, want ErrBlocked", dest, err)
			}
			if !strings.Contains(err.Error(), "not allowed") {
				t.Fatalf("unclear message: %v", err)
			}
			tg.assertUntouched(t)
		})
	}

	t.Run("dial guard alone", func(t *testing.T) {
		// Even with the redirect policy replaced, the dialer refuses.
		redirectTo.Store("http://localhost:" + tg.port(t) + "/internal")
		c := NewClient(Options{})
		c.CheckRedirect = nil
		_, _, err := Fetch(ctx, c, public.URL+"/start", 1<<20)
		if !errors.Is(err, ErrBlocked) {
			t.Fatalf("error = %v, want ErrBlocked", err)
		}
		tg.assertUntouched(t)
	})

	t.Run("allow private follows", func(t *testing.T) {
		redirectTo.Store("http://127.0.0.1:" + tg.port(t) + "/internal")
		data, _, err := Fetch(ctx, NewClient(Options{AllowPrivate: true}), public.URL+"/start", 1<<20)
		if err != nil || string(data) != "secret internal data" {
			t.Fatalf("AllowPrivate redirect: %q, %v", data, err)
		}
	})

	t.Run("too many redirects", func(t *testing.T) {
		redirectTo.Store(public.URL + "/again")
		_, _, err := Fetch(ctx, NewClient(Options{MaxRedirects: 2}), public.URL+"/start", 1024)
		if !errors.Is(err, ErrUpstream) {
			t.Fatalf("error = %v, want ErrUpstream", err)
		}
	})
}
