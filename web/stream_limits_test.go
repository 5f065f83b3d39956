package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
	"github.com/parley-dev/parley/stream"
)

// TestStreamsPerTenantCap: beyond PARLEY_MAX_STREAMS_PER_TENANT a tenant's
// next stream is 429 RATE_LIMITED with Retry-After, while another tenant
// still opens streams, and a slot freed by a client leaving is reusable.
func TestStreamsPerTenantCap(t *testing.T) {
	e := newEnvWith(t, envOpts{Stream: stream.Options{MaxStreamsPerTenant: 2}})
	first := e.openStream("/backend/conversations/stream", nil)
	e.openStream("/backend/conversations/stream", nil)
	c, res := e.tryStream("/backend/conversations/stream", nil)
	if c != nil {
		t.Fatal("a third stream opened with a per-tenant cap of 2")
	}
	wantProblem(t, res, http.StatusTooManyRequests, "RATE_LIMITED")
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	_, otherKey := storetest.Tenant(t, e.store, "other")
	other := e.openStream("/backend/conversations/stream?token="+otherKey, nil)
	other.Next(2*time.Second, func(ev sseEvent) bool { return ev.Retry != "" })

	first.Close()
	eventually(t, convWait, "the tenant's freed slot", func() bool {
		c, _ := e.tryStream("/backend/conversations/stream", nil)
		if c != nil {
			c.Close()
		}
		return c != nil
	})
}

// TestRevokedKeyClosesItsStreams: a key revoked while its stream is open
// has that stream closed within 2 s (streams are re-authorized every
// second), a stream of another key of the same tenant stays open and live,
// and the revoked key cannot open a new one.
func TestRevokedKeyClosesItsStreams(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k2, secret2, err := e.tenant.CreateKey(ctx, "second", "")
	if err != nil {
		t.Fatal(err)
	}
	doomed := e.openStream("/backend/conversations/stream?token="+secret2, nil)
	kept := e.openStream("/backend/conversations/stream", nil)
	doomed.Next(2*time.Second, func(ev sseEvent) bool { return ev.Retry != "" })

	if _, err := e.store.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	closed := false
	for !closed {
		select {
		case _, ok := <-doomed.frames:
			closed = !ok
		case <-time.After(3 * time.Second): // the promise is 2 s; the slack is for a loaded machine
			t.Fatalf("the revoked key's stream is still open %v after revocation", time.Since(revoked))
		}
	}
	t.Logf("closed %v after revocation", time.Since(revoked))

	convProcess(t, e, "revoke-lead", "user", "still here?", "")
	kept.Next(5*time.Second, ofType("new_message"))

	time.Sleep(time.Until(revoked.Add(2 * time.Second))) // the key cache may answer for up to 2 s
	if c, res := e.tryStream("/backend/conversations/stream?token="+secret2, nil); c != nil || res.Status != http.StatusUnauthorized {
		t.Errorf("the revoked key opened a stream: %d", res.Status)
	}
}
