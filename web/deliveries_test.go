package web_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A 400 is final: the delivery is listed as failed, and a manual retry sends
// it again with the same X-Parley-Delivery.
func TestDeliveryFailedThenManualRetry(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	status := http.StatusBadRequest
	var ids []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get("X-Parley-Delivery"))
		w.WriteHeader(status)
	}))
	defer rc.Close()
	e.do("POST", "/backend/webhooks", map[string]any{"url": rc.URL, "events": []string{"lead.created"}})
	e.do("POST", "/backend/leads", map[string]any{"name": "Ana"})

	type item struct {
		ID             string  `json:"id"`
		Kind           string  `json:"kind"`
		URL            string  `json:"url"`
		Event          string  `json:"event"`
		Status         string  `json:"status"`
		Attempts       int     `json:"attempts"`
		LastStatusCode *int    `json:"last_status_code"`
		LastError      *string `json:"last_error"`
		NextAttemptAt  *string `json:"next_attempt_at"`
		CreatedAt      string  `json:"created_at"`
	}
	var failed []item
	deadline := time.Now().Add(5 * time.Second)
	for len(failed) == 0 && time.Now().Before(deadline) {
		failed = wantData[[]item](t, e.do("GET", "/backend/deliveries?status=failed", nil), http.StatusOK).Data
		time.Sleep(20 * time.Millisecond)
	}
	if len(failed) != 1 {
		t.Fatalf("failed deliveries = %v, want the one answered 400", failed)
	}
	d := failed[0]
	if d.Kind != "webhook" || d.Event != "lead.created" || d.Attempts != 1 || d.LastStatusCode == nil || *d.LastStatusCode != 400 ||
		d.URL != rc.URL || !timestampRE.MatchString(d.CreatedAt) {
		t.Fatalf("failed delivery = %+v", d)
	}
	if got := wantData[[]item](t, e.do("GET", "/backend/deliveries?status=pending", nil), http.StatusOK).Data; len(got) != 0 {
		t.Fatalf("a 400 must not be retried: pending = %v", got)
	}
	wantProblem(t, e.do("GET", "/backend/deliveries?status=lost", nil), http.StatusBadRequest, "VALIDATION_ERROR")
	wantProblem(t, e.do("POST", "/backend/deliveries/nope/retry", nil), http.StatusNotFound, "NOT_FOUND")

	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	wantData[item](t, e.do("POST", "/backend/deliveries/"+d.ID+"/retry", nil), http.StatusOK)
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := wantData[[]item](t, e.do("GET", "/backend/deliveries?status=delivered", nil), http.StatusOK).Data; len(got) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 2 || ids[0] != d.ID || ids[1] != d.ID {
		t.Fatalf("X-Parley-Delivery of the two attempts = %v, want %s twice", ids, d.ID)
	}
}
