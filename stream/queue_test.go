package stream

import (
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

// TestQueue checks the ring: first in, first out across wrap-arounds and
// growth, a limit that need not be a power of two, and a drained ring let go
// once it grew past queueKeepSlots.
func TestQueue(t *testing.T) {
	const limit = 100
	items := make([]*item, 3*limit)
	for i := range items {
		items[i] = &item{ev: &store.Event{Seq: int64(i + 1)}}
	}
	var q queue
	next, want := 0, 0
	push := func(n int) {
		t.Helper()
		for range n {
			if !q.push(items[next], limit) {
				t.Fatalf("push %d refused with %d queued", next, q.len())
			}
			next++
		}
	}
	pop := func(n int) {
		t.Helper()
		for range n {
			if it := q.pop(); it != items[want] {
				t.Fatalf("pop: got %v, want item %d", it, want)
			}
			want++
		}
	}
	// Wrap around a small ring, then grow it while it is wrapped.
	push(6)
	pop(4)
	push(6) // 8 queued, head at 4: full and wrapped
	if len(q.ring) != queueMinSlots || q.head == 0 {
		t.Fatalf("ring %d slots, head %d; want %d slots, wrapped", len(q.ring), q.head, queueMinSlots)
	}
	push(limit - 8) // grows 8 -> 16 -> 32 -> 64 -> 100
	if q.len() != limit || len(q.ring) != limit {
		t.Fatalf("%d queued in %d slots, want %d in %d", q.len(), len(q.ring), limit, limit)
	}
	if q.push(items[next], limit) {
		t.Fatal("push accepted beyond the limit")
	}
	pop(limit)
	if q.pop() != nil || q.ring != nil {
		t.Fatalf("drained queue: ring of %d slots kept, want none", len(q.ring))
	}
	// A stream that keeps up keeps its small ring.
	push(3)
	pop(3)
	if len(q.ring) != queueMinSlots {
		t.Fatalf("ring %d slots after a small burst, want %d", len(q.ring), queueMinSlots)
	}
}

// TestPublishEvictsAtTheLimit: the queue grows on demand, yet a subscriber
// is evicted exactly when Buffer items wait, as with a channel of that size,
// and what was queued stays in order.
func TestPublishEvictsAtTheLimit(t *testing.T) {
	b := New(nil, Options{Buffer: 100, Logger: quiet})
	s, _ := b.register(Subscription{TenantID: "t1", Filter: store.EventFilter{}}, nil)
	b.Publish(testEvents("t1", 1, 100))
	if s.dead.Load() || b.Evictions() != 0 {
		t.Fatal("evicted with Buffer items queued")
	}
	b.Publish(testEvents("t1", 101, 1))
	if !s.dead.Load() || b.Evictions() != 1 || s.q.len() != 100 {
		t.Fatalf("dead %v, evictions %d, queued %d; want evicted with 100 queued", s.dead.Load(), b.Evictions(), s.q.len())
	}
	for want := int64(1); want <= 100; want++ {
		if it := s.q.pop(); it.ev.Seq != want {
			t.Fatalf("popped %d, want %d", it.ev.Seq, want)
		}
	}
}

// TestBurstReachesStream: a burst far larger than the queue's first ring,
// published at once, reaches a real client whole and in order.
func TestBurstReachesStream(t *testing.T) {
	e := newEnv(t, Options{Buffer: 300}, false)
	c := e.open(t, e.streamURL(e.ten.ID()), "")
	e.b.Publish(testEvents(e.ten.ID(), 1, 300))
	for want := int64(1); want <= 300; want++ {
		if f := c.nextEvent(t, 5*time.Second); f.seq(t) != want {
			t.Fatalf("got id %s, want %d", f.ID, want)
		}
	}
	if n := e.b.Evictions(); n != 0 {
		t.Fatalf("%d evictions", n)
	}
}
