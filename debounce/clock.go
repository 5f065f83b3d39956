package debounce

import "time"

// Clock is the scheduler's view of time; tests inject a fake.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a Timer that sends the time on its channel once d
	// has elapsed.
	NewTimer(d time.Duration) Timer
}

// Timer is a single-shot timer created by a Clock. It behaves like a
// time.Timer in Go 1.23 and later: after Reset or Stop returns, no value
// from an earlier arming is received. The Scheduler copes with an
// occasional stale or early fire (it rechecks the clock), but never with a
// missed one.
type Timer interface {
	// C returns the channel on which the timer delivers its fire time.
	C() <-chan time.Time
	// Reset re-arms the timer to fire after d, whether or not it was active.
	Reset(d time.Duration)
	// Stop disarms the timer. It reports whether the timer was active.
	Stop() bool
}

// RealClock is the Clock backed by the time package. Its zero value is
// ready to use, and New uses it when passed a nil Clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a Timer backed by time.NewTimer(d).
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// realTimer adapts *time.Timer to Timer.
type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop() bool            { return t.t.Stop() }
