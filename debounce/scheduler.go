package debounce

import (
	"container/heap"
	"math"
	"sync"
	"time"
)

// Scheduler calls a function once for each key whose deadline has passed.
// Each key has at most one pending deadline.
//
// Create a Scheduler with New, set OnFire if wanted, and call Start.
// Schedule, Cancel, Len, Deadline and Close are safe to call from any
// goroutine, including from inside the due function.
type Scheduler struct {
	// OnFire, if non-nil, is called on the loop goroutine just before due
	// for every key that fires, with the key's lateness: the clock's time
	// when the key was taken off the heap minus its deadline (never
	// negative). It is meant for metrics and should be cheap. Set it before
	// Start and do not change it afterwards.
	OnFire func(key string, lateness time.Duration)

	clock Clock
	due   func(key string)
	base  time.Time // clock.Now() at New; deadlines are offsets from it

	wake chan struct{} // capacity 1: the earliest deadline may have moved
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the loop goroutine returns

	mu      sync.Mutex
	h       entryHeap
	started bool
	closed  bool
}

// New returns a Scheduler that calls due(key) when key's deadline passes.
// A nil clock means RealClock. New panics if due is nil.
//
// The Scheduler does not fire anything until Start is called, but keys may
// be scheduled before that: a caller restoring state after a restart can
// Schedule every reloaded key and then call Start, at which point the
// overdue ones fire at once, in deadline order.
//
// due runs on the Scheduler's single loop goroutine, one key at a time. The
// key has already been removed when due runs, so due may Schedule the same
// key again. A slow due delays every key behind it; hand long work to
// another goroutine. due must not call Close, which waits for due to return.
func New(clock Clock, due func(key string)) *Scheduler {
	if due == nil {
		panic("debounce: New called with a nil due func")
	}
	if clock == nil {
		clock = RealClock{}
	}
	return &Scheduler{
		clock: clock,
		due:   due,
		base:  clock.Now(),
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		h:     entryHeap{idx: make(map[string]int)},
	}
}

// Start starts the loop goroutine. Calling it again, or after Close, does
// nothing.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	go s.run()
}

// Schedule sets key's deadline, adding the key if it is not pending and
// moving it, earlier or later, if it is. A deadline that has already passed
// fires as soon as the loop gets to it: at once if the Scheduler is
// running, or when Start is called. After Close, Schedule does nothing.
//
// Moving a pending key does not allocate.
func (s *Scheduler) Schedule(key string, deadline time.Time) {
	at := deadline.Sub(s.base) // saturates rather than overflowing
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if i, ok := s.h.idx[key]; ok {
		s.h.items[i].at = at
		heap.Fix(&s.h, i)
	} else {
		s.h.push(entry{at: at, key: key})
	}
	// The loop's timer only needs to change when the earliest deadline
	// became earlier, which happens only if this key is now first. (If the
	// first key moved later, the timer fires early and the loop re-arms.)
	first := s.h.items[0].key == key
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Cancel removes key's pending deadline. It reports whether key was
// pending; it returns false for a key whose due call has already begun.
func (s *Scheduler) Cancel(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.h.idx[key]
	if ok {
		heap.Remove(&s.h, i)
	}
	return ok
}

// Len returns the number of pending keys.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h.items)
}

// Deadline returns key's pending deadline and true, or the zero Time and
// false if key is not pending. The returned Time is the same instant as the
// one passed to Schedule (compare with Time.Equal, not ==).
func (s *Scheduler) Deadline(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.h.idx[key]
	if !ok {
		return time.Time{}, false
	}
	return s.base.Add(s.h.items[i].at), true
}

// Close stops the loop goroutine and returns once it has exited, so no due
// call is running or will start after Close returns. It is safe to call
// more than once and from several goroutines, but not from due or OnFire.
// Pending keys are kept, so Len, Deadline and Cancel still answer; Schedule
// and Start do nothing after Close.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	started := s.started
	s.mu.Unlock()
	if started {
		<-s.done
	}
}

// run is the loop goroutine: it fires every due key, arms the timer for the
// earliest remaining deadline, and waits for the timer, a wake-up from
// Schedule, or Close.
func (s *Scheduler) run() {
	defer close(s.done)
	var (
		t       Timer // created on first use
		timerC  <-chan time.Time
		armed   bool          // t is set to fire at armedAt
		armedAt time.Duration // offset from s.base
	)
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		next, wait, pending, ok := s.fireDue()
		if !ok {
			return
		}
		switch {
		case !pending && armed:
			t.Stop()
			armed = false
		case pending && (!armed || armedAt != next):
			if t == nil {
				t = s.clock.NewTimer(wait)
				timerC = t.C()
			} else {
				t.Reset(wait)
			}
			armed, armedAt = true, next
		}
		select {
		case <-s.quit:
			return
		case <-s.wake:
		case <-timerC:
			armed = false
		}
	}
}

// fireDue fires every key whose deadline has passed, in deadline order.
// It then reports the earliest remaining deadline and how long until it,
// or pending == false if nothing is pending. ok is false once Close has
// been called.
func (s *Scheduler) fireDue() (next, wait time.Duration, pending, ok bool) {
	// No deferred Unlock: the lock is released around callbacks, and a
	// deferred Unlock after a panicking due would hide the panic behind a
	// fatal "unlock of unlocked mutex".
	s.mu.Lock()
	for !s.closed {
		if len(s.h.items) == 0 {
			s.mu.Unlock()
			return 0, 0, false, true
		}
		top := s.h.items[0]
		now := s.clock.Now().Sub(s.base)
		if wait := subSat(top.at, now); wait > 0 {
			s.mu.Unlock()
			return top.at, wait, true, true
		}
		heap.Pop(&s.h)
		s.mu.Unlock()
		if s.OnFire != nil {
			s.OnFire(top.key, subSat(now, top.at))
		}
		s.due(top.key)
		s.mu.Lock()
	}
	s.mu.Unlock()
	return 0, 0, false, false
}

// subSat returns a-b, clamped to the range of time.Duration instead of
// wrapping (deadlines far in the past or future are clamped by Time.Sub).
func subSat(a, b time.Duration) time.Duration {
	d := a - b
	switch {
	case b > 0 && d > a:
		return math.MinInt64
	case b < 0 && d < a:
		return math.MaxInt64
	}
	return d
}
