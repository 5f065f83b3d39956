package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

func testEvents(tenant string, from, n int) []store.Event {
	evs := make([]store.Event, n)
	for i := range evs {
		seq := int64(from + i)
		evs[i] = store.Event{TenantID: tenant, Seq: seq, Type: store.EventMessageStatus, ConversationID: "c1",
			LeadID: "l1", Payload: []byte(`{"type":"message_status","data":{"conversation_id":"c1","lead_id":"l1"}}`)}
	}
	return evs
}

func TestPublishEvictsInsteadOfBlocking(t *testing.T) {
	b := New(nil, Options{Buffer: 4, Logger: quiet})
	slow, _ := b.register(Subscription{TenantID: "t1", Filter: store.EventFilter{}}, nil)
	otherConv, _ := b.register(Subscription{TenantID: "t1", Filter: store.EventFilter{ConversationID: "c2"}}, nil)
	otherTenant, _ := b.register(Subscription{TenantID: "t2", Filter: store.EventFilter{}}, nil)
	done := make(chan struct{})
	go func() {
		b.Publish(testEvents("t1", 1, 10))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("the full subscriber was not evicted")
	}
	if slow.q.len() != 4 || b.Evictions() != 1 {
		t.Fatalf("queued %d, evictions %d; want 4 and 1", slow.q.len(), b.Evictions())
	}
	if otherConv.q.len() != 0 || otherTenant.q.len() != 0 {
		t.Fatal("an event reached a subscriber whose filter or tenant does not match")
	}
	b.Publish(testEvents("t1", 11, 1))
	if slow.q.len() != 4 || b.Evictions() != 1 {
		t.Fatal("an evicted subscriber is still fed")
	}
	// Every subscriber gets the same *item: no copy per subscriber.
	b.register(Subscription{TenantID: "t1", Filter: store.EventFilter{}}, nil)
	a, _ := b.register(Subscription{TenantID: "t1", Filter: store.EventFilter{}}, nil)
	c, _ := b.register(Subscription{TenantID: "t1", Filter: store.EventFilter{}}, nil)
	b.Publish(testEvents("t1", 12, 1))
	if x, y := a.q.pop(), c.q.pop(); x == nil || x != y {
		t.Fatal("subscribers got different copies of one event")
	}
	b.unregister(slow)
	b.unregister(otherTenant)
	if n := b.Subscribers(); n != 4 {
		t.Fatalf("%d subscribers, want 4", n)
	}
}

// BenchmarkPublish measures Publish with n in-memory subscribers, all of
// which want the event (the worst case), or 1% of which do (conversation
// filters, the common case). Queues are emptied with the timer stopped every
// lag events: 8 is streams that keep up (their queues never grow), 1000 is
// streams that fall 1000 events behind before catching up (their queues grow
// on the way and let go of their rings when drained).
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		subs, matchEvery, lag int
	}{{1000, 1, 8}, {10000, 1, 8}, {1000, 1, 1000}, {10000, 1, 1000}, {10000, 100, 1000}} {
		b.Run(fmt.Sprintf("subs=%d/match=%d%%/lag=%d", bc.subs, 100/bc.matchEvery, bc.lag), func(b *testing.B) {
			br := New(nil, Options{Buffer: 1024, MaxStreams: bc.subs, Logger: quiet})
			subs := make([]*subscriber, bc.subs)
			for i := range subs {
				f := store.EventFilter{}
				if i%bc.matchEvery != 0 {
					f.ConversationID = "other"
				}
				subs[i], _ = br.register(Subscription{TenantID: "t1", Filter: f}, nil)
			}
			evs := testEvents("t1", 1, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%bc.lag == bc.lag-1 {
					b.StopTimer()
					for _, s := range subs {
						for s.q.pop() != nil {
						}
					}
					b.StartTimer()
				}
				br.Publish(evs)
			}
			b.StopTimer()
			if br.Evictions() != 0 {
				b.Fatalf("%d evictions", br.Evictions())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bc.subs), "ns/sub")
		})
	}
}
