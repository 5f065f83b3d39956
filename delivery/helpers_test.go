package delivery_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/delivery"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// hit is one request a receiver got.
type hit struct {
	at                         time.Time
	id, ts, sig, leavo, ct, ua string
	body                       []byte
	code                       int
}

// receiver is a real HTTP endpoint that records what it gets and answers
// with the code respond chooses for the n-th request (0-based).
type receiver struct {
	srv     *httptest.Server
	respond func(n int, h http.Header) int

	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T, respond func(n int, h http.Header) int) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{at: time.Now(), id: r.Header.Get("X-Parley-Delivery"), ts: r.Header.Get("X-Parley-Timestamp"),
			sig: r.Header.Get("X-Parley-Signature"), leavo: r.Header.Get("X-Leavo-Signature"),
			ct: r.Header.Get("Content-Type"), ua: r.Header.Get("User-Agent"), body: body}
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, h)
		rc.mu.Unlock()
		code := http.StatusOK
		if rc.respond != nil {
			code = rc.respond(n, w.Header())
		}
		rc.mu.Lock()
		rc.hits[n].code = code
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// codes answers the n-th request with codes[n], then 200.
func codes(cs ...int) func(int, http.Header) int {
	return func(n int, _ http.Header) int {
		if n < len(cs) {
			return cs[n]
		}
		return http.StatusOK
	}
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// env is a real store with a tenant.
type env struct {
	t   *testing.T
	st  *store.Store
	ten *store.Tenant
}

func newEnv(t *testing.T) *env {
	st := storetest.New(t)
	ten, _ := storetest.Tenant(t, st, "acme")
	return &env{t: t, st: st, ten: ten}
}

// hook subscribes url to lead.created and returns the webhook (with secret).
func (e *env) hook(url string) store.Webhook {
	e.t.Helper()
	h, err := e.ten.CreateWebhook(context.Background(), store.WebhookInput{URL: &url, Events: []string{store.HookLeadCreated}})
	if err != nil {
		e.t.Fatalf("create webhook: %v", err)
	}
	return h
}

// lead creates a lead, which queues one lead.created delivery per webhook.
func (e *env) lead(name string) store.Lead {
	e.t.Helper()
	l, err := e.ten.CreateLead(context.Background(), store.LeadInput{Name: &name})
	if err != nil {
		e.t.Fatalf("create lead: %v", err)
	}
	return l
}

// deliveries lists the tenant's deliveries, oldest first.
func (e *env) deliveries() []store.Delivery {
	e.t.Helper()
	ds, _, err := e.ten.ListDeliveries(context.Background(), "", store.Page{Limit: 100})
	if err != nil {
		e.t.Fatalf("list deliveries: %v", err)
	}
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

// only returns the single delivery of the tenant.
func (e *env) only() store.Delivery {
	e.t.Helper()
	ds := e.deliveries()
	if len(ds) != 1 {
		e.t.Fatalf("got %d deliveries, want 1", len(ds))
	}
	return ds[0]
}

// waitStatus waits until the single delivery has status.
func (e *env) waitStatus(status string, within time.Duration) store.Delivery {
	e.t.Helper()
	var d store.Delivery
	waitFor(e.t, within, func() bool { d = e.only(); return d.Status == status },
		func() string { return "delivery status " + d.Status + ", want " + status })
	return d
}

func waitFor(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs a worker with opts over st, woken by the store's outbox hook,
// until the test ends or stop is called.
func start(t *testing.T, st *store.Store, opts delivery.Options) (w *delivery.Worker, stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w = delivery.New(st, opts)
	st.OnOutbox(w.Notify)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// fast is the options of most tests: loopback receivers, short retries.
func fast(schedule ...time.Duration) delivery.Options {
	if schedule == nil {
		schedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}
	}
	return delivery.Options{AllowPrivate: true, Timeout: 5 * time.Second, Schedule: schedule}
}
