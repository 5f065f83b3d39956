// Package queue admits calls to the AI provider: at most a fixed number run at
// once and the rest wait in line, served round-robin between tenants and in
// arrival order within one tenant.
//
// It is a package of its own, not a file of ai, because its promises stand
// without a store or a provider and are tested that way: a slot is never lost
// (a waiter that gives up, even as its slot arrives, hands it on), a waiter
// that gives up leaves no trace, and one tenant's burst delays another
// tenant's call by at most one round. The turn pipeline is its only user.
package queue

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is a counting semaphore whose waiters are served fairly between
// tenants. The zero value is not usable; call [New].
type Queue struct {
	// OnGrant, when set before the first Acquire, is told how long each
	// granted call waited (zero when a slot was free at once).
	OnGrant func(wait time.Duration)

	slots int

	mu      sync.Mutex
	inUse   int
	waiting int
	// ring holds the tenants with waiters in serving order: the front is
	// served next and then goes to the back. A tenant that starts waiting
	// joins at the back, behind every tenant already waiting, so it waits
	// at most one round whatever the others have queued.
	ring  list.List // of *line
	lines map[string]*line
}

// line is one tenant's waiters, oldest first.
type line struct {
	tenant  string
	waiters list.List // of *waiter
	inRing  *list.Element
}

type waiter struct {
	ready   chan struct{} // closed when the slot is granted
	granted bool          // under Queue.mu: the slot is the waiter's
	line    *line
	elem    *list.Element
	since   time.Time
}

// New returns a queue that lets slots calls run at once; slots below one is
// a programming error.
func New(slots int) *Queue {
	if slots < 1 {
		panic("queue: slots must be at least 1")
	}
	return &Queue{slots: slots, lines: map[string]*line{}}
}

// Acquire waits for a slot on behalf of tenant and returns the function that
// gives it back (calling it more than once does nothing). A ctx that ends
// first takes the caller out of line and Acquire returns the context's
// cause; a ctx that has already ended never gets a slot.
func (q *Queue) Acquire(ctx context.Context, tenant string) (release func(), err error) {
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	q.mu.Lock()
	// Waiters exist only while every slot is taken (release hands a freed
	// slot to the next waiter at once), so a free slot means nobody waits.
	if q.inUse < q.slots {
		q.inUse++
		q.mu.Unlock()
		q.granted(0)
		return q.releaser(), nil
	}
	w := q.enqueue(tenant)
	q.mu.Unlock()

	select {
	case <-w.ready:
		q.granted(time.Since(w.since))
		return q.releaser(), nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	if w.granted {
		// The slot arrived as ctx ended: pass it on rather than lose it.
		q.mu.Unlock()
		q.release()
		return nil, context.Cause(ctx)
	}
	q.leave(w)
	q.mu.Unlock()
	return nil, context.Cause(ctx)
}

// Depth is the number of calls waiting for a slot.
func (q *Queue) Depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting
}

// InFlight is the number of slots taken.
func (q *Queue) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inUse
}

// Slots is the number of calls allowed at once.
func (q *Queue) Slots() int { return q.slots }

func (q *Queue) granted(wait time.Duration) {
	if q.OnGrant != nil {
		q.OnGrant(wait)
	}
}

func (q *Queue) releaser() func() {
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			q.release()
		}
	}
}

// release frees a slot and hands it to the next waiter, if any.
func (q *Queue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inUse--
	q.handOn()
}

// handOn grants a free slot to the front tenant's oldest waiter; q.mu is held.
func (q *Queue) handOn() {
	if q.ring.Len() == 0 {
		return
	}
	front := q.ring.Front()
	l := front.Value.(*line)
	w := l.waiters.Remove(l.waiters.Front()).(*waiter)
	q.waiting--
	if l.waiters.Len() == 0 {
		q.ring.Remove(front)
		delete(q.lines, l.tenant)
	} else {
		q.ring.MoveToBack(front)
	}
	w.granted = true
	q.inUse++
	close(w.ready)
}

// enqueue puts a waiter at the end of its tenant's line; q.mu is held.
func (q *Queue) enqueue(tenant string) *waiter {
	l := q.lines[tenant]
	if l == nil {
		l = &line{tenant: tenant}
		l.inRing = q.ring.PushBack(l)
		q.lines[tenant] = l
	}
	w := &waiter{ready: make(chan struct{}), line: l, since: time.Now()}
	w.elem = l.waiters.PushBack(w)
	q.waiting++
	return w
}

// leave takes a waiter that gave up out of its line; q.mu is held.
func (q *Queue) leave(w *waiter) {
	l := w.line
	l.waiters.Remove(w.elem)
	q.waiting--
	if l.waiters.Len() == 0 {
		q.ring.Remove(l.inRing)
		delete(q.lines, l.tenant)
	}
}
