package debounce

import (
	"sync"
	"time"
)

// fakeClock is a manual Clock: time moves only when Advance is called, and
// Advance fires every active timer whose deadline has been reached.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	created int // NewTimer calls
}

var _ Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.created++
	t.arm(d)
	return t
}

// Advance moves the clock forward by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.fire()
		}
	}
}

// timersCreated returns how many timers have been created.
func (c *fakeClock) timersCreated() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created
}

// fakeTimer is a Timer of a fakeClock. Its fields are guarded by clk.mu.
type fakeTimer struct {
	clk    *fakeClock
	c      chan time.Time // capacity 1
	when   time.Time
	active bool
}

// arm sets the timer to fire d after now; c.mu must be held.
func (t *fakeTimer) arm(d time.Duration) {
	t.drain()
	t.when = t.clk.now.Add(d)
	t.active = true
	if d <= 0 {
		t.fire()
	}
}

// fire delivers the current time; c.mu must be held.
func (t *fakeTimer) fire() {
	t.active = false
	select {
	case t.c <- t.clk.now:
	default:
	}
}

// drain discards an undelivered value, as time.Timer does since Go 1.23.
func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.arm(d)
}

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := t.active
	t.active = false
	t.drain()
	return was
}
