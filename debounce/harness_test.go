package debounce

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

const ms = time.Millisecond

// firing is one due call seen by the harness.
type firing struct {
	key  string
	now  time.Time     // fake clock time during the due call
	late time.Duration // lateness passed to OnFire just before
}

// harness drives a Scheduler with a fakeClock inside a synctest bubble.
// The fake clock supplies the scheduler's time; synctest.Wait tells the
// harness when the loop goroutine has caught up and is blocked again. No
// test waits for a fixed amount of real time.
type harness struct {
	t     *testing.T
	clk   *fakeClock
	s     *Scheduler
	t0    time.Time
	fired chan firing
	onDue func(h *harness, key string) // runs in due before the firing is recorded
	late  time.Duration                // written by OnFire, read by due: loop goroutine only
	dl    map[string]time.Time         // deadlines scheduled through the harness
}

type harnessOpts struct {
	onDue   func(h *harness, key string) // called from due, on the loop goroutine
	noStart bool                         // leave Start to the test
}

// withHarness runs f in a synctest bubble with a fresh harness, and closes
// the scheduler when f returns.
func withHarness(t *testing.T, o harnessOpts, f func(h *harness)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		h := &harness{
			t:     t,
			clk:   newFakeClock(),
			fired: make(chan firing, 1<<16),
			onDue: o.onDue,
			dl:    map[string]time.Time{},
		}
		h.t0 = h.clk.Now()
		h.s = New(h.clk, h.due)
		h.s.OnFire = func(_ string, late time.Duration) { h.late = late }
		if !o.noStart {
			h.s.Start()
		}
		defer h.s.Close()
		f(h)
	})
}

func (h *harness) due(key string) {
	if h.onDue != nil {
		h.onDue(h, key)
	}
	h.fired <- firing{key: key, now: h.clk.Now(), late: h.late}
}

// schedule schedules key at offset at from t0 and remembers the deadline.
func (h *harness) schedule(key string, at time.Duration) {
	h.dl[key] = h.t0.Add(at)
	h.s.Schedule(key, h.t0.Add(at))
}

// advance moves the fake clock forward by d (at least 0) and returns what
// fired because of it, in firing order.
//
// The clock may only move while the loop is blocked: otherwise the loop
// could read the time, then arm its timer for a duration measured from a
// time that has already moved on. synctest.Wait before Advance ensures
// that; synctest.Wait after it returns once every due key has fired.
func (h *harness) advance(d time.Duration) []firing {
	synctest.Wait()
	h.clk.Advance(max(d, 0))
	synctest.Wait()
	var got []firing
	for {
		select {
		case f := <-h.fired:
			got = append(got, f)
		default:
			return got
		}
	}
}

// advanceTo moves the fake clock to t0+at; see advance.
func (h *harness) advanceTo(at time.Duration) []firing {
	return h.advance(h.t0.Add(at).Sub(h.clk.Now()))
}

func keysOf(fs []firing) []string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return keys
}

// checkFired reports an error unless got holds exactly the keys in want,
// in deadline order (keys with equal deadlines may come in any order), with
// each lateness equal to the clock at firing minus the deadline.
func (h *harness) checkFired(got []firing, want []string) {
	h.t.Helper()
	gotKeys := keysOf(got)
	if !slices.Equal(slices.Sorted(slices.Values(gotKeys)), slices.Sorted(slices.Values(want))) {
		h.t.Errorf("fired %q, want %q", gotKeys, want)
		return
	}
	for i, f := range got {
		dl, ok := h.dl[f.key]
		if !ok {
			continue // scheduled outside the harness, e.g. from due
		}
		if i > 0 {
			if prev, ok := h.dl[got[i-1].key]; ok && dl.Before(prev) {
				h.t.Errorf("fired %q out of deadline order", gotKeys)
			}
		}
		if wantLate := f.now.Sub(dl); f.late != wantLate {
			h.t.Errorf("%s: lateness %v, want %v", f.key, f.late, wantLate)
		}
	}
}

// checkInvariants verifies the heap order and the key→index map.
func checkInvariants(t *testing.T, s *Scheduler) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.h.items
	if len(s.h.idx) != len(items) {
		t.Fatalf("index has %d keys, heap has %d entries", len(s.h.idx), len(items))
	}
	for i, e := range items {
		if j, ok := s.h.idx[e.key]; !ok || j != i {
			t.Fatalf("index[%q] = %d, %v; entry is at %d", e.key, j, ok, i)
		}
		if p := (i - 1) / 2; i > 0 && items[p].at > e.at {
			t.Fatalf("heap order broken: items[%d].at=%v > items[%d].at=%v", p, items[p].at, i, e.at)
		}
	}
}
