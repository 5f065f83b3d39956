package crashtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a live HTTP receiver of postbacks and webhooks that outlives
// the parley processes of a test. fail decides, per delivery id and attempt
// number (1-based), to answer 500 instead of 200.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	attempts map[string]int    // delivery id → attempts seen
	accepted map[string][]byte // delivery id → body of the 2xx-answered attempt(s)
	okCount  map[string]int    // delivery id → attempts answered 2xx
	firstOK  map[string]int    // delivery id → rank of its first 2xx among all deliveries' first 2xx
	fail     func(id string, attempt int) bool
}

func newReceiver(t *testing.T, fail func(id string, attempt int) bool) *receiver {
	r := &receiver{attempts: map[string]int{}, accepted: map[string][]byte{}, okCount: map[string]int{},
		firstOK: map[string]int{}, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("X-Parley-Delivery")
		r.mu.Lock()
		r.attempts[id]++
		n := r.attempts[id]
		failing := r.fail != nil && r.fail(id, n)
		if !failing {
			r.okCount[id]++
			r.accepted[id] = body
			if r.okCount[id] == 1 {
				r.firstOK[id] = len(r.firstOK) + 1
			}
		}
		r.mu.Unlock()
		if failing {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// snapshot copies what was accepted: delivery id → times answered 2xx.
func (r *receiver) snapshot() (ok map[string]int, bodies map[string][]byte, attempts map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok, bodies, attempts = map[string]int{}, map[string][]byte{}, map[string]int{}
	for k, v := range r.okCount {
		ok[k] = v
	}
	for k, v := range r.accepted {
		bodies[k] = v
	}
	for k, v := range r.attempts {
		attempts[k] = v
	}
	return ok, bodies, attempts
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// firstOrder copies the ranks of first successes: delivery id → rank.
func (r *receiver) firstOrder() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.firstOK))
	for k, v := range r.firstOK {
		out[k] = v
	}
	return out
}
