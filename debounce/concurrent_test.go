package debounce

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// burstCounter counts due calls for "burst-" keys.
type burstCounter struct {
	mu    sync.Mutex
	fires map[string]int
	total int
}

func (c *burstCounter) due(_ *harness, key string) {
	if strings.HasPrefix(key, "burst-") {
		c.mu.Lock()
		c.fires[key]++
		c.total++
		c.mu.Unlock()
	}
}

// TestConcurrent hammers one Scheduler from several goroutines while its
// loop fires keys, then checks that the final state is exactly what the
// operations imply. Run it with -race.
func TestConcurrent(t *testing.T) {
	c := &burstCounter{fires: map[string]int{}}
	withHarness(t, harnessOpts{onDue: c.due}, func(h *harness) { concurrentOps(h, c) })
}

func concurrentOps(h *harness, c *burstCounter) {
	const (
		workers = 8
		owned   = 200 // keys per worker, final state known exactly
		shared  = 50  // keys every worker touches, only invariants checked
		burst   = 100 // at most this many keys per worker due at once
		ops     = 3000
	)
	t, t0, s := h.t, h.t0, h.s
	future := func(r *rand.Rand) time.Time {
		return t0.Add(time.Hour + time.Duration(r.IntN(1_000_000))*time.Microsecond)
	}

	want := make([]map[string]time.Time, workers) // per worker: owned key → deadline
	scheduled := make([]int, workers)             // burst keys each worker scheduled
	cancelled := make([]int, workers)             // and cancelled
	var wg sync.WaitGroup
	for w := range workers {
		want[w] = map[string]time.Time{}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range ops {
				switch op := r.IntN(10); {
				case op < 4: // own key: schedule or move
					k, dl := fmt.Sprintf("own-%d-%d", w, r.IntN(owned)), future(r)
					s.Schedule(k, dl)
					want[w][k] = dl
				case op < 5: // own key: cancel
					k := fmt.Sprintf("own-%d-%d", w, r.IntN(owned))
					_, pending := want[w][k]
					if got := s.Cancel(k); got != pending {
						t.Errorf("Cancel(%s) = %v, want %v", k, got, pending)
					}
					delete(want[w], k)
				case op < 7: // shared key
					k := fmt.Sprintf("shared-%d", r.IntN(shared))
					if r.IntN(3) == 0 {
						s.Cancel(k)
					} else {
						s.Schedule(k, future(r))
					}
				case op < 8: // reads
					s.Len()
					s.Deadline(fmt.Sprintf("shared-%d", r.IntN(shared)))
				default: // a key that is due at once; try to cancel some
					if scheduled[w] == burst {
						continue
					}
					scheduled[w]++
					k := fmt.Sprintf("burst-%d-%d", w, i)
					s.Schedule(k, t0.Add(-time.Duration(r.IntN(1000))*ms))
					if r.IntN(2) == 0 && s.Cancel(k) {
						cancelled[w]++
					}
				}
			}
		})
	}
	wg.Wait()
	h.advance(0) // every burst key has fired or was cancelled by now
	checkInvariants(t, s)

	// Each burst key fired exactly once unless Cancel removed it first.
	totalScheduled, totalCancelled := 0, 0
	for w := range workers {
		totalScheduled += scheduled[w]
		totalCancelled += cancelled[w]
	}
	c.mu.Lock()
	for k, n := range c.fires {
		if n != 1 {
			t.Errorf("%s fired %d times", k, n)
		}
	}
	if c.total+totalCancelled != totalScheduled || totalCancelled == totalScheduled {
		t.Errorf("%d burst keys fired + %d cancelled, want %d in all, some fired",
			c.total, totalCancelled, totalScheduled)
	}
	c.mu.Unlock()

	// Owned keys are exactly as their worker left them.
	pending := 0
	for w := range workers {
		for i := range owned {
			k := fmt.Sprintf("own-%d-%d", w, i)
			dl, ok := s.Deadline(k)
			wantDL, wantOK := want[w][k]
			if ok != wantOK || !dl.Equal(wantDL) {
				t.Errorf("Deadline(%s) = %v, %v; want %v, %v", k, dl, ok, wantDL, wantOK)
			}
		}
		pending += len(want[w])
	}
	for i := range shared {
		if _, ok := s.Deadline(fmt.Sprintf("shared-%d", i)); ok {
			pending++
		}
	}
	if n := s.Len(); n != pending {
		t.Fatalf("Len() = %d, want %d", n, pending)
	}

	// Everything still pending fires exactly once, in deadline order.
	deadlines := map[string]time.Time{}
	s.mu.Lock()
	for _, e := range s.h.items {
		deadlines[e.key] = s.base.Add(e.at)
	}
	s.mu.Unlock()
	got := h.advance(2 * time.Hour)
	if len(got) != pending {
		t.Fatalf("%d keys fired, want %d", len(got), pending)
	}
	var prev time.Time
	for _, f := range got {
		dl, ok := deadlines[f.key]
		if !ok {
			t.Fatalf("unexpected or repeated firing of %s", f.key)
		}
		if dl.Before(prev) {
			t.Fatalf("%s fired out of deadline order", f.key)
		}
		prev = dl
		if want := f.now.Sub(deadlines[f.key]); f.late != want {
			t.Fatalf("%s: lateness %v, want %v", f.key, f.late, want)
		}
		delete(deadlines, f.key)
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("Len() = %d after firing everything", n)
	}
}
