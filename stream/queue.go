package stream

import "sync"

// queueMinSlots is a queue's first ring, and queueKeepSlots the largest ring
// kept once the stream has caught up: a stream that keeps up holds 64 bytes,
// and one burst does not keep its peak for the rest of the stream.
const (
	queueMinSlots  = 8
	queueKeepSlots = 16
)

// queue is a subscriber's backlog: the items published to it that its
// stream has not taken yet, oldest first. It is a ring that grows on demand
// up to the broker's Buffer, where a channel of Buffer slots would hold
// 4 KB per stream for the stream's whole life while most streams never have
// more than a few items waiting. The limit counts exactly what a channel of
// that capacity would hold, so eviction is unchanged.
//
// Any number of publishers push; only the stream's goroutine pops.
type queue struct {
	mu   sync.Mutex
	ring []*item // nil until the first push and again after a drain
	head int     // index of the oldest item in ring
	n    int     // items queued
}

// push appends it unless limit items are already waiting; it reports
// whether it did.
func (q *queue) push(it *item, limit int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= limit {
		return false
	}
	if q.n == len(q.ring) {
		q.grow(limit)
	}
	i := q.head + q.n
	if i >= len(q.ring) {
		i -= len(q.ring)
	}
	q.ring[i] = it
	q.n++
	return true
}

// grow doubles the ring (at most to limit), moving the items to its start.
// q.mu is held and the ring is full.
func (q *queue) grow(limit int) {
	ring := make([]*item, min(max(2*len(q.ring), queueMinSlots), limit))
	n := copy(ring, q.ring[q.head:])
	copy(ring[n:], q.ring[:q.head])
	q.ring, q.head = ring, 0
}

// pop takes the oldest item, or nil when none is waiting. Emptying a ring
// grown past queueKeepSlots lets go of it.
func (q *queue) pop() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil
	}
	it := q.ring[q.head]
	q.ring[q.head] = nil // the item may be large: do not keep it alive
	q.n--
	if q.head++; q.head == len(q.ring) {
		q.head = 0
	}
	if q.n == 0 && len(q.ring) > queueKeepSlots {
		q.ring, q.head = nil, 0
	}
	return it
}

// len reports how many items are waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
