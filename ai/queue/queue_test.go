package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai/queue"
)

// grant is what one waiter got from Acquire.
type grant struct {
	name    string
	release func()
	err     error
}

// line acquires for name in a goroutine of its own and reports to out.
func line(q *queue.Queue, ctx context.Context, tenant, name string, out chan<- grant) {
	go func() {
		r, err := q.Acquire(ctx, tenant)
		out <- grant{name, r, err}
	}()
}

// depth waits until n calls wait in q, so that arrival order is known.
func depth(t *testing.T, q *queue.Queue, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for q.Depth() != n {
		if time.Now().After(deadline) {
			t.Fatalf("depth = %d, want %d", q.Depth(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// next is the next grant, failing after a generous wait.
func next(t *testing.T, out <-chan grant) grant {
	t.Helper()
	select {
	case g := <-out:
		return g
	case <-time.After(5 * time.Second):
		t.Fatal("no grant within 5 s")
		return grant{}
	}
}

// drain releases held, then takes n grants one at a time, releasing each,
// and returns their names in grant order.
func drain(t *testing.T, held func(), out <-chan grant, n int) []string {
	t.Helper()
	held()
	var order []string
	for range n {
		g := next(t, out)
		if g.err != nil {
			t.Fatalf("%s: %v", g.name, g.err)
		}
		order = append(order, g.name)
		g.release()
	}
	return order
}

func mustAcquire(t *testing.T, q *queue.Queue, tenant string) func() {
	t.Helper()
	r, err := q.Acquire(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundRobinBetweenTenantsFIFOWithin(t *testing.T) {
	q := queue.New(1)
	held := mustAcquire(t, q, "x")
	out := make(chan grant, 16)
	arrivals := []struct{ tenant, name string }{
		{"A", "A1"}, {"A", "A2"}, {"A", "A3"}, {"A", "A4"}, {"B", "B1"}, {"B", "B2"}, {"C", "C1"},
	}
	for i, a := range arrivals {
		line(q, context.Background(), a.tenant, a.name, out)
		depth(t, q, i+1)
	}
	got := drain(t, held, out, len(arrivals))
	want := []string{"A1", "B1", "C1", "A2", "B2", "A3", "A4"}
	if !slices.Equal(got, want) {
		t.Fatalf("grant order = %v, want %v", got, want)
	}
	if q.Depth() != 0 || q.InFlight() != 0 {
		t.Fatalf("depth %d, in flight %d after all released", q.Depth(), q.InFlight())
	}
}

// TestBurstDelaysAnotherTenantOneRound: tenant A holds every slot and queues
// 27 more calls; tenant B's single call is granted second, not 28th.
func TestBurstDelaysAnotherTenantOneRound(t *testing.T) {
	q := queue.New(3)
	var held []func()
	for range 3 {
		held = append(held, mustAcquire(t, q, "A"))
	}
	out := make(chan grant, 64)
	for i := range 27 {
		line(q, context.Background(), "A", fmt.Sprintf("A%d", i+4), out)
		depth(t, q, i+1)
	}
	line(q, context.Background(), "B", "B1", out)
	depth(t, q, 28)

	var order []string
	for len(order) < 28 {
		if len(held) > 0 {
			held[0]()
			held = held[1:]
		}
		g := next(t, out)
		order = append(order, g.name)
		held = append(held, g.release)
	}
	if i := slices.Index(order, "B1"); i < 0 || i > 1 {
		t.Fatalf("B's call was granted %d-th (order %v); want within one round (1st or 2nd)", i+1, order)
	}
	for _, r := range held {
		r()
	}
	if q.InFlight() != 0 {
		t.Fatalf("in flight %d after all released", q.InFlight())
	}
}

func TestCancelWhileQueuedLeavesTheLine(t *testing.T) {
	q := queue.New(1)
	held := mustAcquire(t, q, "A")
	out := make(chan grant, 4)
	gone := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	line(q, ctx, "B", "B1", out)
	depth(t, q, 1)
	line(q, context.Background(), "C", "C1", out)
	depth(t, q, 2)

	cancel(gone)
	g := next(t, out)
	if g.name != "B1" || !errors.Is(g.err, gone) || g.release != nil {
		t.Fatalf("cancelled waiter: %s, err %v, release set %t; want B1 with the cause and no slot", g.name, g.err, g.release != nil)
	}
	depth(t, q, 1)
	if got := drain(t, held, out, 1); !slices.Equal(got, []string{"C1"}) {
		t.Fatalf("after the cancel the slot went to %v, want C1", got)
	}
	if q.InFlight() != 0 || q.Depth() != 0 {
		t.Fatalf("in flight %d, depth %d at the end", q.InFlight(), q.Depth())
	}
}

func TestEndedContextGetsNoSlot(t *testing.T) {
	q := queue.New(2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := q.Acquire(ctx, "A"); err == nil || r != nil {
		t.Fatalf("Acquire on an ended context: err %v, release set %t; want an error and none", err, r != nil)
	}
	if q.InFlight() != 0 {
		t.Fatalf("in flight %d", q.InFlight())
	}
}

func TestReleaseTwiceFreesOneSlot(t *testing.T) {
	q := queue.New(1)
	r := mustAcquire(t, q, "A")
	r()
	r()
	if q.InFlight() != 0 {
		t.Fatalf("in flight %d after a double release", q.InFlight())
	}
	r2 := mustAcquire(t, q, "A")
	defer r2()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.Acquire(ctx, "B"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second call got past a cap of 1 (err %v): the double release made a slot", err)
	}
}

func TestOnGrantReportsTheWait(t *testing.T) {
	q := queue.New(1)
	var mu sync.Mutex
	var waits []time.Duration
	q.OnGrant = func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}
	held := mustAcquire(t, q, "A")
	out := make(chan grant, 1)
	line(q, context.Background(), "B", "B1", out)
	depth(t, q, 1)
	time.Sleep(50 * time.Millisecond)
	drain(t, held, out, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 2 || waits[0] != 0 || waits[1] < 50*time.Millisecond {
		t.Fatalf("waits = %v, want [0, ≥50ms]", waits)
	}
}

func TestNewRefusesNoSlots(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(0) did not panic")
		}
	}()
	queue.New(0)
}
