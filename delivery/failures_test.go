package delivery_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

func TestShutdownRecordsNothingInFlight(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	rc := newReceiver(t, func(int, http.Header) int { <-release; return http.StatusOK })
	t.Cleanup(func() { close(release) })
	e.hook(rc.srv.URL)
	_, stop := start(t, e.st, fast())
	e.lead("Ana")
	waitFor(t, 5*time.Second, func() bool { return len(rc.got()) == 1 },
		func() string { return "the receiver never got its request" })

	stopped := time.Now()
	stop()
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("Run took %v to return after cancel", took)
	}
	d := e.only()
	if d.Status != store.DeliveryPending || d.Attempts != 0 {
		t.Errorf("after shutdown: status %s attempts %d, want pending and 0", d.Status, d.Attempts)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	e := newEnv(t)
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(_ int, h http.Header) int {
		h.Set("Location", target.srv.URL)
		return http.StatusFound
	})
	e.hook(rc.srv.URL)
	start(t, e.st, fast())
	e.lead("Ana")

	d := e.waitStatus(store.DeliveryFailed, 5*time.Second)
	if d.LastError == nil || !strings.Contains(*d.LastError, "redirect not followed") || *d.LastStatusCode != 302 {
		t.Errorf("last_error %v, last_status_code %v: want redirect not followed, 302", d.LastError, d.LastStatusCode)
	}
	if n := len(target.got()); n != 0 {
		t.Errorf("redirect target got %d requests, want 0", n)
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, _ http.Header) int {
		if n == 0 {
			<-release
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) })
	e.hook(rc.srv.URL)
	opts := fast()
	opts.Timeout = 200 * time.Millisecond
	start(t, e.st, opts)
	e.lead("Ana")

	d := e.waitStatus(store.DeliveryDelivered, 5*time.Second)
	if d.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (a timeout, then success)", d.Attempts)
	}
}

func TestFewSlotsStillReachEveryDestination(t *testing.T) {
	e := newEnv(t)
	var rcs []*receiver
	for range 4 {
		rc := newReceiver(t, codes(500)) // each destination needs a retry
		e.hook(rc.srv.URL)
		rcs = append(rcs, rc)
	}
	opts := fast()
	opts.MaxInFlight = 1
	start(t, e.st, opts)
	e.lead("Ana")
	e.lead("Bia")

	waitFor(t, 5*time.Second, func() bool {
		for _, d := range e.deliveries() {
			if d.Status != store.DeliveryDelivered {
				return false
			}
		}
		return true
	}, func() string { return "not every delivery was delivered with one slot" })
	for i, rc := range rcs {
		if n := len(rc.got()); n != 3 {
			t.Errorf("receiver %d got %d requests, want 3 (a 500, then two deliveries)", i, n)
		}
	}
}

// A webhook deleted while its delivery waits leaves nothing to sign it with:
// the store fails the delivery visibly, and nothing goes out unsigned.
func TestDeletedWebhookFailsUnsigned(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	h := e.hook(rc.srv.URL)
	e.lead("Ana") // queued before the worker runs
	if err := e.ten.DeleteWebhook(context.Background(), h.ID); err != nil {
		t.Fatal(err)
	}
	start(t, e.st, fast())

	d := e.waitStatus(store.DeliveryFailed, 5*time.Second)
	if d.LastError == nil || !strings.Contains(*d.LastError, "webhook deleted") {
		t.Errorf("last_error = %v, want it to say the webhook was deleted", d.LastError)
	}
	if n := len(rc.got()); n != 0 {
		t.Errorf("receiver got %d unsigned requests, want 0", n)
	}
}
