package debounce

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// step is one action in a table-driven scenario.
type step func(h *harness)

func sched(key string, at time.Duration) step {
	return func(h *harness) { h.schedule(key, at) }
}

// together runs steps as one, so that the loop cannot act in between.
func together(steps ...step) step {
	return func(h *harness) {
		for _, st := range steps {
			st(h)
		}
	}
}

func cancel(key string, want bool) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.s.Cancel(key); got != want {
			h.t.Errorf("Cancel(%q) = %v, want %v", key, got, want)
		}
	}
}

func wantLen(n int) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.s.Len(); got != n {
			h.t.Errorf("Len() = %d, want %d", got, n)
		}
	}
}

// advanceTo moves the clock to t0+at and expects exactly want to fire.
func advanceTo(at time.Duration, want ...string) step {
	return func(h *harness) {
		h.t.Helper()
		h.checkFired(h.advanceTo(at), want)
	}
}

func TestScenarios(t *testing.T) {
	same := manyKeys("k", 100)
	sameSteps := []step{sched("early", 5*ms), sched("late", 15*ms)}
	for _, k := range same {
		sameSteps = append(sameSteps, sched(k, 10*ms))
	}
	sameSteps = append(sameSteps,
		wantLen(102),
		advanceTo(9*ms, "early"),
		advanceTo(20*ms, append(same, "late")...),
		wantLen(0))

	tests := []struct {
		name  string
		steps []step
	}{
		{"fires in deadline order", []step{
			sched("c", 30*ms), sched("a", 10*ms), sched("b", 20*ms),
			wantLen(3),
			advanceTo(5 * ms),
			advanceTo(10*ms, "a"),
			advanceTo(35*ms, "b", "c"),
			wantLen(0),
		}},
		{"move earlier", []step{
			sched("a", 30*ms), sched("b", 20*ms),
			sched("a", 10*ms),
			wantLen(2),
			advanceTo(15*ms, "a"),
			advanceTo(30*ms, "b"),
		}},
		{"move later", []step{
			sched("a", 10*ms), sched("b", 20*ms),
			sched("a", 30*ms),
			advanceTo(15 * ms),
			advanceTo(25*ms, "b"),
			advanceTo(30*ms, "a"),
		}},
		{"moving a key keeps one entry", []step{
			sched("a", 10*ms), sched("a", 40*ms), sched("a", 20*ms), sched("a", 20*ms),
			wantLen(1),
			advanceTo(19 * ms),
			advanceTo(50*ms, "a"),
		}},
		{"cancel", []step{
			sched("a", 10*ms), sched("b", 20*ms), sched("c", 30*ms),
			cancel("a", true), cancel("a", false), cancel("nope", false),
			cancel("c", true),
			wantLen(1),
			advanceTo(19 * ms),
			advanceTo(40*ms, "b"),
			cancel("b", false),
		}},
		{"cancel everything", []step{
			sched("a", 10*ms), sched("b", 20*ms),
			cancel("b", true), cancel("a", true),
			wantLen(0),
			advanceTo(40 * ms),
		}},
		{"past deadline fires at once", []step{
			advanceTo(100 * ms),
			together(sched("a", 50*ms), sched("b", -time.Hour), sched("c", 150*ms)),
			advanceTo(100*ms, "b", "a"),
			wantLen(1),
		}},
		{"deadline far in the past or future", []step{
			// Beyond the ±292 years a Duration offset can hold: clamped.
			func(h *harness) {
				h.s.Schedule("never", h.t0.AddDate(1000, 0, 0))
				h.s.Schedule("ancient", h.t0.AddDate(-1000, 0, 0))
			},
			advanceTo(0, "ancient"),
			wantLen(1),
		}},
		{"many keys with the same deadline", sameSteps},
		{"fired key can be scheduled again", []step{
			sched("a", 10*ms),
			advanceTo(10*ms, "a"),
			cancel("a", false),
			sched("a", 20*ms),
			advanceTo(20*ms, "a"),
		}},
	}
	for _, tt := range tests {
		// Batched: steps run back to back, so the loop sees several
		// changes at once. Stepwise: the loop catches up after every step,
		// so each change moves an already armed timer.
		for _, stepwise := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/batched", true: "/stepwise"}[stepwise]
			t.Run(name, func(t *testing.T) {
				withHarness(t, harnessOpts{}, func(h *harness) {
					for _, st := range tt.steps {
						st(h)
						if stepwise {
							synctest.Wait()
						}
						checkInvariants(h.t, h.s)
					}
					if n := h.clk.timersCreated(); n > 1 {
						h.t.Errorf("scheduler created %d timers, want at most 1", n)
					}
				})
			})
		}
	}
}

func TestRearmFromDue(t *testing.T) {
	fires := 0
	rearm := func(h *harness, key string) {
		// Runs on the loop goroutine: Schedule for the key being fired
		// must not deadlock, and must count as a fresh insert.
		if fires++; fires < 3 {
			h.s.Schedule(key, h.clk.Now().Add(10*ms))
		}
	}
	withHarness(t, harnessOpts{onDue: rearm}, func(h *harness) {
		t := h.t
		// The deadlines set from due are unknown to the harness, so check
		// keys and lateness here rather than with checkFired.
		check := func(at time.Duration, want ...string) {
			t.Helper()
			got := h.advanceTo(at)
			if fmt.Sprint(keysOf(got)) != fmt.Sprint(want) {
				t.Fatalf("at t0+%v fired %q, want %q", at, keysOf(got), want)
			}
			for _, f := range got {
				if f.late != 0 {
					t.Errorf("at t0+%v: lateness %v, want 0", at, f.late)
				}
			}
		}
		h.schedule("a", 10*ms)
		check(10*ms, "a")
		if dl, ok := h.s.Deadline("a"); !ok || !dl.Equal(h.t0.Add(20*ms)) {
			t.Fatalf("after re-arm Deadline(a) = t0%+v, %v; want t0+20ms", dl.Sub(h.t0), ok)
		}
		check(15 * ms)
		check(20*ms, "a")
		check(30*ms, "a")
		check(100 * ms)
		if n := h.s.Len(); n != 0 {
			t.Fatalf("Len() = %d, want 0", n)
		}
	})
}
