package delivery

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/parley-dev/parley/store"
)

// attemptDone is an attempt's last word to the dispatcher.
type attemptDone struct {
	dest, key string
	recorded  bool // false: nothing was recorded (a store error), the key waits storeBackoff
}

// dispatchState is what the dispatcher (Run's goroutine, and only it) knows
// about the attempts in flight and the destinations to look at.
type dispatchState struct {
	inFlight map[string]int       // destination → attempts in flight
	busy     map[string]bool      // keys with an attempt in flight
	hold     map[string]time.Time // keys whose last attempt could not be recorded → not before
	total    int                  // attempts in flight to every destination
	last     string               // the destination served last, for round robin
	// full asks the next pass to look at every destination with pending
	// deliveries; otherwise it looks only at dirty ones, where an attempt
	// finished. Whatever else can make a head startable wakes the worker
	// (a commit that queued or requeued deliveries), is a time (next, a
	// hold) or is the overall limit (hit: full again), and each of those
	// sets full, so a pass after a finished attempt costs one destination's
	// heads, not a look at every destination.
	full  bool
	dirty map[string]bool
	next  time.Time // the earliest due head the last passes left waiting
}

// keyOf names a delivery's order key across destinations.
func keyOf(d store.Delivery) string { return d.Destination + "\x00" + d.OrderKey }

// Run sends deliveries until ctx ends, starting with whatever the store
// holds as pending. When ctx ends, attempts in flight are cancelled and not
// recorded (they stay pending and are sent again on the next start); Run
// returns once every attempt has stopped. Call it once at a time.
func (w *Worker) Run(ctx context.Context) {
	ds := &dispatchState{inFlight: map[string]int{}, busy: map[string]bool{}, hold: map[string]time.Time{},
		dirty: map[string]bool{}, full: true}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := w.dispatch(ctx, ds)
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(next.Sub(w.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			for ds.total > 0 {
				w.finished(ds, <-w.done)
			}
			return
		case <-w.wake:
			ds.full = true
		case <-timer.C:
			ds.full = true
		case a := <-w.done:
			w.finished(ds, a)
		}
		// Take every other finished attempt already waiting, so that a burst
		// of them costs one pass over the store, not one each.
		for drained := false; !drained; {
			select {
			case a := <-w.done:
				w.finished(ds, a)
			default:
				drained = true
			}
		}
	}
}

// dispatch starts an attempt for every due key head it has room for and
// returns when to look again (zero: only when woken). A finishing attempt
// always makes the dispatcher look again, so a full destination, a key
// busy with an attempt and the worker's overall limit need no timer.
//
// Room: at most w.concurrency attempts per destination and w.maxInFlight in
// all. Within a destination, heads go earliest next attempt first, and a
// head promoted when its predecessor finished is due from then (see
// store.DeliveryHeads), so keys take turns. Across destinations, when the
// overall limit binds, each pass starts after the destination served last.
func (w *Worker) dispatch(ctx context.Context, ds *dispatchState) time.Time {
	if ctx.Err() != nil {
		return time.Time{}
	}
	now := w.now()
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for k, t := range ds.hold {
		if t.After(now) {
			earliest(t)
		} else {
			delete(ds.hold, k)
		}
	}
	if !ds.next.IsZero() && !ds.next.After(now) {
		ds.full = true // a due time passed without the timer's pass
	}
	var queues []store.DeliveryQueue
	if ds.full {
		var err error
		if queues, err = w.st.DeliveryQueues(ctx); err != nil {
			if ctx.Err() == nil {
				w.log.Error("delivery: list destinations", "err", err)
			}
			return now.Add(storeBackoff)
		}
		ds.full = false
	} else {
		earliest(ds.next)
		for dest := range ds.dirty {
			queues = append(queues, store.DeliveryQueue{Destination: dest, Due: now})
		}
		slices.SortFunc(queues, func(a, b store.DeliveryQueue) int { return strings.Compare(a.Destination, b.Destination) })
	}
	clear(ds.dirty)
	if i := slices.IndexFunc(queues, func(q store.DeliveryQueue) bool { return q.Destination > ds.last }); i > 0 {
		queues = slices.Concat(queues[i:], queues[:i])
	}
	defer func() {
		ds.next = next
		if ds.total >= w.maxInFlight {
			ds.full = true // destinations may have been left out: a finishing attempt looks at all again
		}
	}()
	for _, q := range queues {
		if ds.total >= w.maxInFlight {
			break
		}
		n := ds.inFlight[q.Destination]
		if n >= w.concurrency {
			continue
		}
		if q.Due.After(now) {
			earliest(q.Due)
			continue
		}
		free := min(w.concurrency-n, w.maxInFlight-ds.total)
		// The heads of the n busy keys may come first: asking for n more than
		// the free slots (and one to learn the next due time) still finds
		// every head that can start.
		heads, err := w.st.DeliveryHeads(ctx, q.Destination, n+free+1)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("delivery: read heads", "destination", q.Destination, "err", err)
			}
			earliest(now.Add(storeBackoff))
			continue
		}
		for _, d := range heads {
			key := keyOf(d)
			if ds.busy[key] {
				continue
			}
			due := now
			if d.NextAttemptAt != nil {
				due = d.NextAttemptAt.Std()
			}
			if t, ok := ds.hold[key]; ok && t.After(due) {
				due = t
			}
			if due.After(now) {
				earliest(due)
				continue
			}
			if free == 0 {
				break // the destination is full: a finishing attempt looks again
			}
			w.start(ctx, ds, d, key)
			free--
			ds.last = q.Destination
		}
	}
	return next
}

// start sends d on its own goroutine, which reports to Run when done.
func (w *Worker) start(ctx context.Context, ds *dispatchState, d store.Delivery, key string) {
	ds.busy[key] = true
	ds.inFlight[d.Destination]++
	ds.total++
	w.setInFlight(d.Destination, ds.inFlight[d.Destination])
	go func() {
		recorded := w.attempt(ctx, d)
		w.done <- attemptDone{dest: d.Destination, key: key, recorded: recorded}
	}()
}

// finished frees an attempt's slot and key.
func (w *Worker) finished(ds *dispatchState, a attemptDone) {
	delete(ds.busy, a.key)
	ds.total--
	ds.inFlight[a.dest]--
	w.setInFlight(a.dest, ds.inFlight[a.dest])
	if ds.inFlight[a.dest] == 0 {
		delete(ds.inFlight, a.dest)
	}
	ds.dirty[a.dest] = true
	if !a.recorded {
		ds.hold[a.key] = w.now().Add(storeBackoff)
	}
}

// setInFlight publishes a destination's count for InFlight.
func (w *Worker) setInFlight(dest string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n == 0 {
		delete(w.inFlight, dest)
	} else {
		w.inFlight[dest] = n
	}
}
