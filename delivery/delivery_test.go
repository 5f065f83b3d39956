package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/delivery"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestRetriesUntilDelivered(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, codes(500, 500, 200))
	e.hook(rc.srv.URL + "/hook")
	var mu sync.Mutex
	var outcomes []string
	opts := fast()
	opts.OnAttempt = func(kind, outcome string, _ time.Duration) {
		mu.Lock()
		outcomes = append(outcomes, kind+":"+outcome)
		mu.Unlock()
	}
	start(t, e.st, opts)
	e.lead("Ana")

	d := e.waitStatus(store.DeliveryDelivered, 5*time.Second)
	if d.Attempts != 3 {
		t.Errorf("attempts = %d, want 3", d.Attempts)
	}
	if d.LastStatusCode == nil || *d.LastStatusCode != 200 {
		t.Errorf("last_status_code = %v, want 200", d.LastStatusCode)
	}
	time.Sleep(100 * time.Millisecond) // a fourth attempt would show up here
	hits := rc.got()
	if len(hits) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(hits))
	}
	for i, h := range hits {
		if h.id != d.ID {
			t.Errorf("request %d: X-Parley-Delivery = %q, want %q", i, h.id, d.ID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"webhook:retry", "webhook:retry", "webhook:delivered"}
	if !slices.Equal(outcomes, want) {
		t.Errorf("OnAttempt outcomes = %v, want %v", outcomes, want)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, func(n int, h http.Header) int {
		if n == 0 {
			h.Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	e.hook(rc.srv.URL)
	start(t, e.st, fast(10*time.Millisecond))
	e.lead("Ana")

	e.waitStatus(store.DeliveryDelivered, 5*time.Second)
	hits := rc.got()
	if len(hits) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(hits))
	}
	if gap := hits[1].at.Sub(hits[0].at); gap < time.Second {
		t.Errorf("second attempt %v after the first, want >= 1s (Retry-After)", gap)
	}
}

func TestClientErrorFailsAtOnceThenManualRetry(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, codes(400, 200))
	e.hook(rc.srv.URL)
	w, _ := start(t, e.st, fast())
	e.lead("Ana")

	d := e.waitStatus(store.DeliveryFailed, 5*time.Second)
	if d.Attempts != 1 || d.LastStatusCode == nil || *d.LastStatusCode != 400 {
		t.Fatalf("failed delivery: attempts %d, last_status_code %v; want 1 and 400", d.Attempts, d.LastStatusCode)
	}
	if d.LastError == nil || !strings.Contains(*d.LastError, "400") {
		t.Errorf("last_error = %v, want it to name the 400", d.LastError)
	}
	time.Sleep(100 * time.Millisecond) // no retry may come
	if n := len(rc.got()); n != 1 {
		t.Fatalf("receiver got %d requests before the manual retry, want 1", n)
	}

	if _, err := e.ten.RetryDelivery(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	w.Notify()
	d = e.waitStatus(store.DeliveryDelivered, 5*time.Second)
	if d.Attempts != 1 {
		t.Errorf("attempts after the manual retry = %d, want 1 (a fresh schedule)", d.Attempts)
	}
	hits := rc.got()
	if len(hits) != 2 || hits[0].id != d.ID || hits[1].id != d.ID {
		t.Fatalf("requests %+v: want 2, both with X-Parley-Delivery %s", hits, d.ID)
	}
}

func TestSignaturesAndPayload(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	h := e.hook(rc.srv.URL + "/in?token=abc")
	if !strings.HasPrefix(h.Secret, "whsec_") {
		t.Fatalf("webhook secret %q, want whsec_…", h.Secret)
	}
	start(t, e.st, fast())
	before := time.Now().Unix()
	l := e.lead("Ana")
	d := e.waitStatus(store.DeliveryDelivered, 5*time.Second)

	got := rc.got()[0]
	if got.ct != "application/json" || got.ua != "Parley-Webhooks/1" || got.id != d.ID {
		t.Errorf("headers: Content-Type %q, User-Agent %q, X-Parley-Delivery %q", got.ct, got.ua, got.id)
	}
	ts, err := strconv.ParseInt(got.ts, 10, 64)
	if err != nil || ts < before-1 || ts > time.Now().Unix()+1 {
		t.Errorf("X-Parley-Timestamp = %q, want unix seconds of now", got.ts)
	}
	// Verify as a receiver would, with the secret's own bytes.
	mac := hmac.New(sha256.New, []byte(h.Secret))
	mac.Write([]byte(got.ts + "." + string(got.body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got.sig != want {
		t.Errorf("X-Parley-Signature = %q, want %q", got.sig, want)
	}
	mac = hmac.New(sha256.New, []byte(h.Secret))
	mac.Write(got.body)
	if want := hex.EncodeToString(mac.Sum(nil)); got.leavo != want {
		t.Errorf("X-Leavo-Signature = %q, want %q", got.leavo, want)
	}
	if got.sig != delivery.Sign(h.Secret, ts, got.body) || got.leavo != delivery.SignLeavo(h.Secret, got.body) {
		t.Errorf("Sign/SignLeavo disagree with the headers sent")
	}

	var body map[string]json.RawMessage
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body %s: %v", got.body, err)
	}
	keys := []string{}
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"data", "event", "timestamp"}) {
		t.Errorf("payload keys %v, want data, event, timestamp", keys)
	}
	var payload struct {
		Event     string     `json:"event"`
		Timestamp store.Time `json:"timestamp"`
		Data      store.Lead `json:"data"`
	}
	if err := json.Unmarshal(got.body, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Event != store.HookLeadCreated || payload.Data.ID != l.ID {
		t.Errorf("payload event %q lead %q, want lead.created of %s", payload.Event, payload.Data.ID, l.ID)
	}
}

func TestSlowDestinationDoesNotDelayOthers(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	hanging := newReceiver(t, func(int, http.Header) int {
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) }) // runs before hanging.srv.Close
	healthy := newReceiver(t, nil)
	opts := fast()
	opts.Timeout = 30 * time.Second
	start(t, e.st, opts)

	e.hook(hanging.srv.URL)
	e.lead("first")
	waitFor(t, 5*time.Second, func() bool { return len(hanging.got()) == 1 },
		func() string { return "the hanging receiver never got its request" })

	e.hook(healthy.srv.URL)
	created := time.Now()
	e.lead("second") // one more delivery to the hanging destination, one to the healthy one
	waitFor(t, 5*time.Second, func() bool { return len(healthy.got()) == 1 },
		func() string { return "the healthy receiver never got its request" })
	delay := healthy.got()[0].at.Sub(created)
	t.Logf("healthy destination delivered %v after creation", delay)
	if delay > time.Second {
		t.Errorf("healthy destination got its delivery after %v, want < 1s", delay)
	}
	// Another lead's delivery does not wait behind the hanging one.
	waitFor(t, 5*time.Second, func() bool { return len(hanging.got()) == 2 },
		func() string { return "the second lead's delivery to the hanging destination waited behind the first" })
}

func TestSSRFGuardRefusesLoopback(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.hook(rc.srv.URL) // 127.0.0.1: only the delivery-time guard can refuse it here
	start(t, e.st, delivery.Options{Schedule: []time.Duration{20 * time.Millisecond}})
	e.lead("Ana")

	d := e.waitStatus(store.DeliveryFailed, 5*time.Second)
	if d.LastError == nil || !strings.Contains(*d.LastError, "not allowed") {
		t.Fatalf("last_error = %v, want it to say the destination is not allowed", d.LastError)
	}
	t.Logf("last_error: %s", *d.LastError)
	if d.Attempts != 1 || d.LastStatusCode != nil {
		t.Errorf("attempts %d, last_status_code %v: want 1 and none", d.Attempts, d.LastStatusCode)
	}
	if n := len(rc.got()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

func TestPendingDeliverySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	st1, err := store.Open(context.Background(), path, storetest.Schema(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ten1, _ := storetest.Tenant(t, st1, "acme")
	e1 := &env{t: t, st: st1, ten: ten1}
	rc := newReceiver(t, codes(500))
	e1.hook(rc.srv.URL)
	_, stop := start(t, st1, fast(300*time.Millisecond))
	e1.lead("Ana")
	waitFor(t, 5*time.Second, func() bool { return e1.only().Attempts == 1 },
		func() string { return "the first attempt was never recorded" })
	stop()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := storetest.Open(t, path)
	e2 := &env{t: t, st: st2, ten: st2.Tenant(ten1.ID())}
	if d := e2.only(); d.Status != store.DeliveryPending || d.LastStatusCode == nil || *d.LastStatusCode != 500 {
		t.Fatalf("after restart: status %s, last_status_code %v; want pending after a 500", d.Status, d.LastStatusCode)
	}
	start(t, st2, fast(300*time.Millisecond))
	d := e2.waitStatus(store.DeliveryDelivered, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	ok := 0
	for _, h := range rc.got() {
		if h.code == http.StatusOK {
			ok++
		}
		if h.id != d.ID {
			t.Errorf("X-Parley-Delivery %q, want %q", h.id, d.ID)
		}
	}
	if ok != 1 {
		t.Errorf("receiver got %d successful requests, want exactly 1", ok)
	}
}
