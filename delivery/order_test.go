package delivery_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

// retrySoon retries every 100 ms, for long enough to outlast a test's poison.
func retrySoon() []time.Duration {
	return slices.Repeat([]time.Duration{100 * time.Millisecond}, 100)
}

// A conversation whose postbacks fail holds back only its own later
// postbacks: the other conversations' postbacks to the same URL arrive at
// once, and its own arrive in order once the receiver takes them.
func TestFailingConversationHoldsOnlyItself(t *testing.T) {
	e := newEnv(t)
	gw := newGateway(t, 0)
	var poisoned atomic.Bool
	poisoned.Store(true)
	var poison string
	gw.failWhen(func(g got, _ int) bool { return poisoned.Load() && g.key == "c:"+poison })
	start(t, e.st, fast(retrySoon()...))
	url := gw.srv.URL + "/cb"

	poison = e.answer("poisoned-lead", url, "p1")
	waitFor(t, 5*time.Second, func() bool { return e.only().Attempts >= 1 },
		func() string { return "the failing postback was never tried" })
	e.answer("poisoned-lead", url, "p2")
	e.answer("poisoned-lead", url, "p3")
	queued := time.Now()
	for i := range 5 {
		e.answer(fmt.Sprintf("lead-%d", i), url, fmt.Sprintf("o%d", i))
	}
	waitFor(t, 5*time.Second, func() bool { return len(gw.successes()) == 5 },
		func() string { return fmt.Sprintf("%d of the 5 other postbacks arrived", len(gw.successes())) })
	var slowest time.Duration
	for _, s := range gw.successes() {
		slowest = max(slowest, s.at.Sub(queued))
	}
	t.Logf("the other conversations' postbacks arrived within %v of being queued", slowest)
	if slowest > time.Second {
		t.Errorf("another conversation's postback took %v, want < 1s: the failing one holds only its own", slowest)
	}

	time.Sleep(300 * time.Millisecond) // a few more retries of p1
	for _, d := range e.deliveries() {
		if g := parse(d.ID, d.Payload); g.key == "c:"+poison && g.text != "p1" && gw.tried(d.ID) > 0 {
			t.Errorf("%s was sent while p1 of its conversation was failing", g.text)
		}
	}
	if n := len(gw.successes()); n != 5 {
		t.Errorf("%d successes while p1 fails, want the 5 other conversations' only", n)
	}

	poisoned.Store(false)
	waitFor(t, 5*time.Second, func() bool { return len(gw.successes()) == 8 },
		func() string { return "the failing conversation's postbacks did not all arrive after it recovered" })
	if got := byKey(gw.successes())["c:"+poison]; !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Errorf("the recovered conversation's postbacks arrived as %v, want p1 p2 p3", got)
	}
}

// Never more requests in flight at one receiver than the limit, retries
// included, and the limit is reached when there is work for it.
func TestConcurrencyLimitHoldsAtTheReceiver(t *testing.T) {
	for _, limit := range []int{1, 4, 16} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			e := newEnv(t)
			gw := newGateway(t, 100*time.Millisecond)
			gw.failWhen(func(g got, attempt int) bool { return attempt == 1 && crc32.ChecksumIEEE([]byte(g.id))%3 == 0 })
			e.hookTo(gw.srv.URL+"/hook", store.HookLeadCreated)
			opts := fast(retrySoon()...)
			opts.Concurrency = limit
			start(t, e.st, opts)
			n := 3*limit + 5
			for i := range n {
				e.answer(fmt.Sprintf("lead-%d", i), gw.srv.URL+"/cb", "hi") // a lead.created and a postback each
			}
			waitFor(t, 20*time.Second, func() bool { return len(gw.successes()) == 2*n },
				func() string { return fmt.Sprintf("%d of %d deliveries arrived", len(gw.successes()), 2*n) })
			time.Sleep(50 * time.Millisecond) // room for a duplicate
			for _, s := range gw.successes() {
				want := 1
				if crc32.ChecksumIEEE([]byte(s.id))%3 == 0 {
					want = 2
				}
				if n := gw.tried(s.id); n != want {
					t.Errorf("delivery %s was requested %d times, want %d", s.id, n, want)
				}
			}
			if m := gw.maxOpen.Load(); m > int64(limit) {
				t.Errorf("the receiver had %d requests open at once, limit %d", m, limit)
			} else if m < int64(limit) {
				t.Errorf("the receiver had at most %d requests open at once: the limit %d was never used", m, limit)
			}
		})
	}
}

// Deliveries of one key arrive in commit order even when attempts fail and
// retry, while different keys go in parallel.
func TestOrderPerKeyUnderRetries(t *testing.T) {
	cases := []struct {
		name string
		// queue makes 3 keys' deliveries, interleaved, and returns the
		// texts each key's deliveries carry, in commit order.
		queue func(e *env, url string) map[string][]string
	}{
		{"postbacks per conversation", func(e *env, url string) map[string][]string {
			want := map[string][]string{}
			for i := range 4 {
				for l := range 3 {
					text := fmt.Sprintf("answer %d of %d", i, l)
					conv := e.answer(fmt.Sprintf("lead-%d", l), url, text)
					want["c:"+conv] = append(want["c:"+conv], text)
				}
			}
			return want
		}},
		{"lead webhooks per lead", func(e *env, url string) map[string][]string {
			e.hookTo(url, store.HookLeadCreated, store.HookLeadUpdated)
			want := map[string][]string{}
			var ids []string
			for l := range 3 {
				name := fmt.Sprintf("lead %d v0", l)
				ids = append(ids, e.lead(name).ID)
				want["l:"+ids[l]] = []string{name}
			}
			for v := 1; v < 4; v++ {
				for l, id := range ids {
					name := fmt.Sprintf("lead %d v%d", l, v)
					if _, err := e.ten.UpdateLead(context.Background(), id, store.LeadInput{Name: &name}); err != nil {
						t.Fatal(err)
					}
					want["l:"+id] = append(want["l:"+id], name)
				}
			}
			return want
		}},
		{"message webhooks per conversation", func(e *env, url string) map[string][]string {
			e.hookTo(url, store.HookMessageReceived)
			want := map[string][]string{}
			for i := range 4 {
				for l := range 3 {
					text := fmt.Sprintf("message %d of %d", i, l)
					st, err := e.ten.AddMessage(context.Background(), store.MessageInput{LeadID: fmt.Sprintf("lead-%d", l),
						CreateLead: true, Role: store.RoleUser, Content: text, MessageType: "text", Status: store.MsgDelivered})
					if err != nil {
						t.Fatal(err)
					}
					want["c:"+st.Conversation.ID] = append(want["c:"+st.Conversation.ID], text)
				}
			}
			return want
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			gw := newGateway(t, 5*time.Millisecond)
			// Half the deliveries fail once or twice before they are taken.
			gw.failWhen(func(g got, attempt int) bool { return attempt <= int(crc32.ChecksumIEEE([]byte(g.id))%4) })
			start(t, e.st, fast(slices.Repeat([]time.Duration{20 * time.Millisecond}, 5)...))
			want := c.queue(e, gw.srv.URL+"/in")
			total := 0
			for _, texts := range want {
				total += len(texts)
			}
			waitFor(t, 10*time.Second, func() bool { return len(gw.successes()) == total },
				func() string { return fmt.Sprintf("%d of %d deliveries arrived", len(gw.successes()), total) })
			got := byKey(gw.successes())
			for key, texts := range want {
				if !slices.Equal(got[key], texts) {
					t.Errorf("key %s: first successes in order %v, want commit order %v", key, got[key], texts)
				}
			}
		})
	}
}

// Keys take turns: a conversation with many queued postbacks goes behind the
// conversations already waiting each time one of its postbacks is sent, so
// it cannot hold a destination's only slot for all of them.
func TestKeysTakeTurns(t *testing.T) {
	e := newEnv(t)
	gw := newGateway(t, 0)
	release := make(chan struct{})
	var held atomic.Bool
	gw.failWhen(func(got, int) bool {
		if held.CompareAndSwap(false, true) {
			<-release // hold the first request until the others are queued
		}
		return false
	})
	opts := fast()
	opts.Concurrency = 1
	start(t, e.st, opts)
	url := gw.srv.URL + "/cb"
	for i := range 20 {
		e.answer("chatty", url, fmt.Sprintf("chatty %d", i))
	}
	waitFor(t, 5*time.Second, held.Load, func() string { return "the first postback never arrived" })
	for i := range 5 {
		e.answer(fmt.Sprintf("quiet-%d", i), url, fmt.Sprintf("quiet %d", i))
	}
	// Due times are kept to the millisecond, and heads due in the same one
	// go in commit order: let the chatty conversation's next head be
	// promoted in a later millisecond than the quiet ones were queued.
	time.Sleep(5 * time.Millisecond)
	close(release)
	waitFor(t, 10*time.Second, func() bool { return len(gw.successes()) == 25 },
		func() string { return fmt.Sprintf("%d of 25 postbacks arrived", len(gw.successes())) })
	var order []string
	for _, s := range gw.successes() {
		order = append(order, s.text)
	}
	second := slices.Index(order, "chatty 1")
	for i := range 5 {
		if at := slices.Index(order, fmt.Sprintf("quiet %d", i)); at > second {
			t.Errorf("quiet %d arrived %dth, after the chatty conversation's second postback (%dth): %v", i, at+1, second+1, order)
		}
	}
}

// A retry falls due on time at one destination while another keeps the
// worker busy with finished attempts (each of which looks again only at its
// own destination).
func TestRetryIsOnTimeBesideABusyDestination(t *testing.T) {
	e := newEnv(t)
	quiet := newGateway(t, 0)
	quiet.failWhen(func(_ got, attempt int) bool { return attempt == 1 })
	busy := newGateway(t, 10*time.Millisecond)
	opts := fast(300 * time.Millisecond)
	opts.Concurrency = 1
	start(t, e.st, opts)
	for i := range 150 {
		e.answer(fmt.Sprintf("busy-%d", i), busy.srv.URL, "b")
	}
	e.answer("quiet", quiet.srv.URL, "q")
	waitFor(t, 5*time.Second, func() bool { return len(quiet.successes()) == 1 },
		func() string { return "the retry at the quiet destination never came" })
	if n := len(busy.successes()); n == 150 {
		t.Errorf("the retry came after the busy destination's 150 deliveries: it waited for them")
	}
	t.Logf("the retry came while the busy destination had %d of 150 deliveries", len(busy.successes()))
}
