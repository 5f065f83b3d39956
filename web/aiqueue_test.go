package web_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
)

// TestAIQueueCapHoldsUnderMixedLoad: synchronous turns, debounced batches and
// agent-dialect chats (complete and streamed) all at once never have more
// than the cap's provider calls in flight, and every one is answered.
func TestAIQueueCapHoldsUnderMixedLoad(t *testing.T) {
	const cap = 3
	e, f, q := queueEnv(t, cap, 0)
	rc := newDebReceiver(t)
	debWindow(t, e, 0, 30) // batches fire as soon as they are stored
	bot := agentBot(t, e)
	var convs []string
	for range 6 {
		convs = append(convs, agentCreate(t, e, bot, nil))
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	send := func(path string, body obj, check func(response) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := post(ctx, e, e.key, path, body)
			if err == nil {
				err = check(r)
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", path, err)
			}
		}()
	}
	status := func(want int, contains string) func(response) error {
		return func(r response) error {
			if r.Status != want || !strings.Contains(string(r.Body), contains) {
				return fmt.Errorf("%d %s, want %d with %q", r.Status, r.Body, want, contains)
			}
			return nil
		}
	}
	for i := range 6 {
		send("/ai/process", syncTurn(e.tenant.ID(), fmt.Sprintf("sync-%d", i), fmt.Sprintf("sync %d", i)),
			status(http.StatusOK, fmt.Sprintf("answer to sync %d", i)))
		deb := syncTurn(e.tenant.ID(), fmt.Sprintf("deb-%d", i), fmt.Sprintf("deb %d", i))
		deb["debounce"], deb["postback_url"] = true, rc.srv.URL+"/cb"
		send("/ai/process", deb, status(http.StatusAccepted, `"queued":true`))
	}
	for i, conv := range convs[:3] {
		send("/conversation/complete/"+conv, obj{"text": fmt.Sprintf("complete %d", i)},
			status(http.StatusOK, fmt.Sprintf("answer to complete %d", i)))
	}
	for i, conv := range convs[3:] {
		send("/conversation/stream/"+conv, obj{"text": fmt.Sprintf("stream %d", i)},
			status(http.StatusOK, fmt.Sprintf("answer to stream %d", i)))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rc.waitFor(t, 6, 30*time.Second)
	peak, texts, _ := f.seen()
	if len(texts) != 18 {
		t.Errorf("the provider answered %d calls, want 18", len(texts))
	}
	if peak > cap {
		t.Fatalf("the provider served %d calls at once with PARLEY_AI_CONCURRENCY=%d", peak, cap)
	}
	if peak < cap {
		t.Errorf("peak %d: the load never filled the %d slots, so the test proves little", peak, cap)
	}
	if q.InFlight() != 0 || q.Depth() != 0 {
		t.Errorf("after the load: %d in flight, %d waiting", q.InFlight(), q.Depth())
	}
}

// TestAIQueueTimeCountsFromTheSlot: with 3 slots, 12 turns at once and a
// provider timeout of 1 s, the last turns wait longer than the timeout in
// line, yet all 12 succeed: the timeout runs only while the call runs.
func TestAIQueueTimeCountsFromTheSlot(t *testing.T) {
	const timeout = time.Second
	e, f, _ := queueEnv(t, 3, timeout)
	lat := make([]time.Duration, 12)
	rs := procConcurrent(t, 12, func(i int) (response, error) {
		start := time.Now()
		r, err := post(context.Background(), e, e.key, "/ai/process", syncTurn(e.tenant.ID(), fmt.Sprintf("lead-%d", i), fmt.Sprintf("turn %d", i)))
		lat[i] = time.Since(start)
		return r, err
	})
	for i, r := range rs {
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), fmt.Sprintf("answer to turn %d", i)) {
			t.Errorf("turn %d: %d %s", i, r.Status, r.Body)
		}
	}
	if slowest := slices.Max(lat); slowest <= timeout {
		t.Errorf("the slowest turn took %v, not more than the %v timeout: the test did not make turns wait", slowest, timeout)
	}
	if peak, _, _ := f.seen(); peak > 3 {
		t.Errorf("%d calls at once with 3 slots", peak)
	}
}

// TestAIQueueFairBetweenTenants: tenant A fires 30 turns, then tenant B one;
// B's call is served within two rounds of the cap, not after A's burst.
func TestAIQueueFairBetweenTenants(t *testing.T) {
	const cap = 3
	e, f, q := queueEnv(t, cap, 0)
	tenB, keyB := storetest.Tenant(t, e.store, "beta")
	// The provider holds the first calls until all of A's burst waits in
	// line: how fast the 30 first messages are stored (it differs between
	// the databases) must not decide whether the line ever fills.
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	ctxA, leaveA := context.WithCancel(context.Background())
	defer leaveA()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(ctxA, e, e.key, "/ai/process", syncTurn(e.tenant.ID(), fmt.Sprintf("a-%d", i), fmt.Sprintf("A %d", i)))
		}()
	}
	waitDepth(t, q, 30-cap)
	start := time.Now()
	answered := make(chan response, 1)
	failed := make(chan error, 1)
	go func() {
		r, err := post(context.Background(), e, keyB, "/ai/process", syncTurn(tenB.ID(), "b-1", "B's only turn"))
		if err != nil {
			failed <- err
			return
		}
		answered <- r
	}()
	waitDepth(t, q, 30-cap+1) // B waits behind A's 27
	close(gate)
	var r response
	var err error
	select {
	case r = <-answered:
	case err = <-failed:
	}
	tookB := time.Since(start)
	if err != nil || r.Status != http.StatusOK || !strings.Contains(string(r.Body), "answer to B's only turn") {
		t.Fatalf("B's turn: %v %d %s", err, r.Status, r.Body)
	}
	_, texts, _ := f.seen()
	pos := slices.Index(texts, "B's only turn") + 1
	if pos < 1 || pos > 2*cap {
		t.Fatalf("B's call was the provider's call #%d (A had 30 queued), want within the first %d (two rounds); order %v", pos, 2*cap, texts)
	}
	t.Logf("B answered in %v as the provider's call #%d", tookB, pos)

	// A's clients leave: their turns leave the line and the queue drains.
	leaveA()
	wg.Wait()
	eventually(t, 10*time.Second, "the queue to drain", func() bool { return q.Depth() == 0 && q.InFlight() == 0 })
}

// TestAIQueueClientLeavingWhileQueuedNeverReachesTheProvider: a synchronous
// turn whose client goes away while it waits for a slot leaves the line; the
// provider never sees it, and the lead's message stays stored.
func TestAIQueueClientLeavingWhileQueuedNeverReachesTheProvider(t *testing.T) {
	e, f, q := queueEnv(t, 1, 0)
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	held := make(chan response, 1)
	go func() {
		r, _ := post(context.Background(), e, e.key, "/ai/process", syncTurn(e.tenant.ID(), "holder", "hold the slot"))
		held <- r
	}()
	eventually(t, 10*time.Second, "the first call to reach the provider", func() bool { _, texts, _ := f.seen(); return len(texts) == 1 })

	ctx, leave := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := post(ctx, e, e.key, "/ai/process", syncTurn(e.tenant.ID(), "leaver", "I will not wait"))
		left <- err
	}()
	waitDepth(t, q, 1)
	leave()
	if err := <-left; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	waitDepth(t, q, 0)
	close(gate)
	if r := <-held; r.Status != http.StatusOK {
		t.Fatalf("the holder's turn: %d %s", r.Status, r.Body)
	}
	time.Sleep(300 * time.Millisecond) // a call that slipped through would have arrived by now
	if _, texts, _ := f.seen(); len(texts) != 1 {
		t.Fatalf("the provider saw %v, want only the holder's turn", texts)
	}
	msgs := procLeadMessages(t, e, "leaver")
	if len(msgs) != 1 || msgs[0]["role"] != "user" || msgs[0]["content"] != "I will not wait" {
		t.Fatalf("the leaver's messages = %v, want its one user message stored", msgs)
	}
}

// TestAIQueueFailedBatchesRetrySpreadAfterRetryAfter: batches whose provider
// call failed with 429 and Retry-After: 1 come back no sooner than a second
// later (the base wait here is 0.2 s), and not all at the same instant.
func TestAIQueueFailedBatchesRetrySpreadAfterRetryAfter(t *testing.T) {
	const batches = 8
	e, f, _ := queueEnv(t, batches, 0, func(o *envOpts) { o.BatchRetryDelay = 200 * time.Millisecond })
	tried := map[string]bool{}
	f.mu.Lock()
	f.fail = func(_ int, text string) (int, string) {
		f.mu.Lock() // fail runs without f.mu held
		defer f.mu.Unlock()
		if tried[text] {
			return 0, ""
		}
		tried[text] = true
		return http.StatusTooManyRequests, "1"
	}
	f.mu.Unlock()
	rc := newDebReceiver(t)
	debWindow(t, e, 0, 30)
	for i := range batches {
		debSend(t, e, fmt.Sprintf("lead-%d", i), fmt.Sprintf("batch %d", i), rc.srv.URL+"/cb")
	}
	rc.waitFor(t, batches, 30*time.Second)
	_, texts, arrivals := f.seen()
	first := map[string]time.Time{}
	var waits []time.Duration
	var retries []time.Time
	for i, text := range texts {
		if at, ok := first[text]; ok {
			waits = append(waits, arrivals[i].Sub(at))
			retries = append(retries, arrivals[i])
		} else {
			first[text] = arrivals[i]
		}
	}
	if len(waits) != batches {
		t.Fatalf("%d retries for %d batches (calls %v)", len(waits), batches, texts)
	}
	// Measured from arrival to arrival, a wait holds the fake's 0.3–0.5 s
	// answer, then 1–1.5 s; without Retry-After it would be under 0.8 s.
	for _, w := range waits {
		if w < time.Second || w > 5*time.Second {
			t.Errorf("a batch came back %v after its 429 with Retry-After: 1, want 1.3–2 s (and some slack)", w)
		}
	}
	slices.SortFunc(retries, func(a, b time.Time) int { return a.Compare(b) })
	if spread := retries[len(retries)-1].Sub(retries[0]); spread < 50*time.Millisecond {
		t.Errorf("the %d retries arrived within %v of each other: not spread", batches, spread)
	}
	t.Logf("retry waits %v", waits)
}
