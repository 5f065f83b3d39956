package debounce

import (
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func manyKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return keys
}

func TestOverdueKeysFireOnStart(t *testing.T) {
	// A restarted server reloads its keys, schedules them, then starts.
	withHarness(t, harnessOpts{noStart: true}, func(h *harness) {
		t := h.t
		h.schedule("b", 30*ms)
		h.schedule("a", 10*ms)
		h.schedule("future", 200*ms)
		h.schedule("c", 20*ms)
		if got := h.advanceTo(100 * ms); len(got) != 0 || h.s.Len() != 4 {
			t.Fatalf("before Start: fired %q, Len %d; want none, 4", keysOf(got), h.s.Len())
		}
		h.s.Start()
		h.s.Start() // idempotent
		got := h.advance(0)
		h.checkFired(got, []string{"a", "c", "b"})
		for i, want := range []time.Duration{90 * ms, 80 * ms, 70 * ms} {
			if i < len(got) && got[i].late != want {
				t.Errorf("%s: lateness %v, want %v", got[i].key, got[i].late, want)
			}
		}
		h.checkFired(h.advanceTo(200*ms), []string{"future"})
	})
}

func TestDeadline(t *testing.T) {
	withHarness(t, harnessOpts{}, func(h *harness) {
		t := h.t
		if _, ok := h.s.Deadline("a"); ok {
			t.Fatal("Deadline of an unknown key reported ok")
		}
		for _, at := range []time.Duration{10 * ms, 5 * ms, time.Hour, -time.Second} {
			h.schedule("a", at)
			dl, ok := h.s.Deadline("a")
			if !ok || !dl.Equal(h.t0.Add(at)) {
				t.Errorf("after Schedule(a, t0%+v): Deadline = t0%+v, %v", at, dl.Sub(h.t0), ok)
			}
		}
		h.checkFired(h.advance(0), []string{"a"}) // last scheduled in the past
		if _, ok := h.s.Deadline("a"); ok {
			t.Error("Deadline of a fired key reported ok")
		}
	})
}

func TestClose(t *testing.T) {
	withHarness(t, harnessOpts{}, func(h *harness) {
		t := h.t
		h.schedule("a", 10*ms)
		h.schedule("b", 20*ms)
		h.checkFired(h.advanceTo(10*ms), []string{"a"})
		h.s.Close()
		select {
		case <-h.s.done:
		default:
			t.Fatal("loop goroutine still running after Close returned")
		}
		h.s.Close()             // idempotent
		h.s.Start()             // no-op after Close
		h.s.Schedule("c", h.t0) // no-op after Close
		if _, ok := h.s.Deadline("c"); ok {
			t.Error("Schedule after Close added a key")
		}
		if n := h.s.Len(); n != 1 {
			t.Errorf("Len() after Close = %d, want 1 (b is kept)", n)
		}
		if got := h.advance(time.Hour); len(got) != 0 {
			t.Errorf("fired %q after Close", keysOf(got))
		}
		if !h.s.Cancel("b") {
			t.Error("Cancel(b) after Close = false, want true")
		}
	})
}

func TestCloseBeforeStart(t *testing.T) {
	s := New(newFakeClock(), func(string) { t.Error("due called") })
	s.Schedule("a", time.Time{})
	s.Close() // must not wait for a loop that never started
	s.Close()
	s.Start()
	if n := s.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
}

func TestCloseWaitsForDue(t *testing.T) {
	var entered, release chan struct{}
	block := func(*harness, string) {
		entered <- struct{}{}
		<-release
	}
	withHarness(t, harnessOpts{onDue: block}, func(h *harness) {
		t := h.t
		// Made in the bubble, so that blocking on them is durable.
		entered, release = make(chan struct{}, 10), make(chan struct{})
		for _, k := range []string{"a", "b", "c"} {
			h.schedule(k, -ms)
		}
		<-entered // the loop is inside due for the first key
		closed := make(chan struct{})
		go func() {
			h.s.Close()
			close(closed)
		}()
		synctest.Wait() // Close waits for the loop, the loop for release
		select {
		case <-closed:
			t.Fatal("Close returned while due was running")
		default:
		}
		close(release)
		<-closed
		if n := len(entered); n != 0 {
			t.Errorf("%d more keys fired after Close", n)
		}
		if n := h.s.Len(); n != 2 {
			t.Errorf("Len() = %d, want 2", n)
		}
	})
}

func TestNew(t *testing.T) {
	s := New(nil, func(string) {})
	if _, ok := s.clock.(RealClock); !ok {
		t.Errorf("New(nil, ...) clock is %T, want RealClock", s.clock)
	}
	defer func() {
		if recover() == nil {
			t.Error("New with a nil due func did not panic")
		}
	}()
	New(nil, nil)
}

func TestSubSat(t *testing.T) {
	const maxD, minD = time.Duration(math.MaxInt64), time.Duration(math.MinInt64)
	tests := []struct{ a, b, want time.Duration }{
		{10, 3, 7},
		{3, 10, -7},
		{minD, 1, minD},
		{minD, maxD, minD},
		{maxD, -1, maxD},
		{0, minD, maxD},
		{maxD, maxD, 0},
		{-1, maxD, minD},
	}
	for _, tt := range tests {
		if got := subSat(tt.a, tt.b); got != tt.want {
			t.Errorf("subSat(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestMoveDoesNotAllocate(t *testing.T) {
	// Not started: a running loop could allocate (its timer) while
	// AllocsPerRun is counting.
	clk := newFakeClock()
	s := New(clk, func(string) {})
	keys := manyKeys("k", 1000)
	t0 := clk.Now()
	for i, k := range keys {
		s.Schedule(k, t0.Add(time.Hour+time.Duration(i)*ms))
	}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		// Alternate between moving keys to the front and to the back.
		off := time.Duration(i*7919%2000) * ms
		s.Schedule(keys[i%len(keys)], t0.Add(time.Hour+off))
		i++
	})
	if allocs != 0 {
		t.Errorf("moving a pending key allocates %.1f times per call, want 0", allocs)
	}
	checkInvariants(t, s)
}

func TestRealClock(t *testing.T) {
	got := make(chan string, 3)
	s := New(nil, func(key string) { got <- key })
	s.Start()
	defer s.Close()
	now := time.Now()
	s.Schedule("c", now.Add(60*ms))
	s.Schedule("a", now.Add(20*ms))
	s.Schedule("b", now.Add(40*ms))
	var order []string
	timeout := time.After(10 * time.Second)
	for len(order) < 3 {
		select {
		case k := <-got:
			order = append(order, k)
		case <-timeout:
			t.Fatalf("only %q fired within 10s", order)
		}
	}
	if fmt.Sprint(order) != "[a b c]" {
		t.Errorf("fired %q, want [a b c]", order)
	}
}
