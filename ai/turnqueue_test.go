package ai_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/ai/queue"
	"github.com/parley-dev/parley/store"
)

// gatedProvider holds every call until the test lets it go, reporting each
// call as it starts (the user text, or "transcribe") and the most calls it
// ever saw at once.
type gatedProvider struct {
	entered  chan string
	gate     chan struct{}
	cur, max atomic.Int32
}

func newGatedProvider() *gatedProvider {
	return &gatedProvider{entered: make(chan string, 16), gate: make(chan struct{})}
}

func (g *gatedProvider) call(ctx context.Context, what string) error {
	n := g.cur.Add(1)
	defer g.cur.Add(-1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
	g.entered <- what
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedProvider) Complete(ctx context.Context, req ai.Request) (string, error) {
	return "ok: " + req.UserText, g.call(ctx, req.UserText)
}

func (g *gatedProvider) Stream(ctx context.Context, req ai.Request, _ func(string) error) (string, error) {
	return g.Complete(ctx, req)
}

func (g *gatedProvider) Transcribe(ctx context.Context, _ ai.Audio) (string, error) {
	return "a transcript", g.call(ctx, "transcribe")
}

// waitEntered is the next call to start, failing after a generous wait.
func (g *gatedProvider) waitEntered(t *testing.T) string {
	t.Helper()
	select {
	case s := <-g.entered:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no provider call started within 5 s")
		return ""
	}
}

// noneEntered checks that no call starts for a while.
func (g *gatedProvider) noneEntered(t *testing.T, why string) {
	t.Helper()
	select {
	case s := <-g.entered:
		t.Fatalf("a provider call started (%q) %s", s, why)
	case <-time.After(100 * time.Millisecond):
	}
}

// typingLog records the typing events the pipeline publishes.
type typingLog struct {
	mu  sync.Mutex
	evs []string // "<lead> true|false"
}

func (l *typingLog) PublishLive(ev store.Event) {
	var p struct {
		Data store.TypingData `json:"data"`
	}
	_ = json.Unmarshal(ev.Payload, &p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.Data.IsTyping {
		l.evs = append(l.evs, ev.LeadID+" true")
	} else {
		l.evs = append(l.evs, ev.LeadID+" false")
	}
}

func (l *typingLog) has(ev string) bool { return slices.Contains(l.events(), ev) }

func (l *typingLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

func waitDepth(t *testing.T, q *queue.Queue, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); q.Depth() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d, want %d", q.Depth(), n)
		}
	}
}

func textIn(lead, text string) ai.Inbound {
	return ai.Inbound{LeadID: lead, Role: store.RoleUser, Content: text, MessageType: "text"}
}

// TestTypingStartsWhenTheTurnLeavesTheQueue: a turn waiting for a slot shows
// no typing indicator; it shows one once its provider call may start.
func TestTypingStartsWhenTheTurnLeavesTheQueue(t *testing.T) {
	_, st, ten := turnSetup(t)
	q := queue.New(1)
	prov := newGatedProvider()
	live := &typingLog{}
	p := ai.NewPipeline(st, prov, live, nil, ai.PipelineConfig{Queue: q})
	errs := make(chan error, 2)
	go func() { _, err := p.Process(context.Background(), ten, textIn("first", "one")); errs <- err }()
	if got := prov.waitEntered(t); got != "one" {
		t.Fatalf("first call = %q", got)
	}
	go func() { _, err := p.Process(context.Background(), ten, textIn("second", "two")); errs <- err }()
	waitDepth(t, q, 1)
	time.Sleep(50 * time.Millisecond) // a typing event published on entering the line would be here by now
	if !live.has("first true") || live.has("second true") {
		t.Fatalf("typing while the second turn waits = %v; want only the first lead's", live.events())
	}
	prov.gate <- struct{}{}
	if got := prov.waitEntered(t); got != "two" {
		t.Fatalf("second call = %q", got)
	}
	if !live.has("second true") {
		t.Fatalf("typing once the second turn left the line = %v; want the second lead's", live.events())
	}
	prov.gate <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestTranscriptionWaitsForASlot: audio is transcribed through the same
// queue as chat, so a voice note never makes a call beyond the cap.
func TestTranscriptionWaitsForASlot(t *testing.T) {
	_, st, ten := turnSetup(t)
	q := queue.New(1)
	prov := newGatedProvider()
	fetch := func(context.Context, string) ([]byte, string, func(), error) {
		return []byte("OggS\x00fake"), "audio/ogg", func() {}, nil
	}
	p := ai.NewPipeline(st, prov, nil, fetch, ai.PipelineConfig{Queue: q})
	errs := make(chan error, 2)
	go func() { _, err := p.Process(context.Background(), ten, textIn("first", "one")); errs <- err }()
	prov.waitEntered(t)
	go func() {
		_, err := p.Process(context.Background(), ten, ai.Inbound{LeadID: "voice", Role: store.RoleUser,
			MessageType: "audio", URL: "https://media.example/a.ogg"})
		errs <- err
	}()
	waitDepth(t, q, 1)
	prov.noneEntered(t, "while the only slot is taken")
	prov.gate <- struct{}{}
	if got := prov.waitEntered(t); got != "transcribe" {
		t.Fatalf("after the slot freed, the call was %q, want the transcription", got)
	}
	prov.gate <- struct{}{}
	prov.waitEntered(t) // the voice note's answer
	prov.gate <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if m := prov.max.Load(); m != 1 {
		t.Fatalf("%d provider calls at once with one slot", m)
	}
}

// keySched records what the pipeline schedules.
type keySched struct {
	mu   sync.Mutex
	keys []string
}

func (s *keySched) Schedule(key string, _ time.Time) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
}

func (s *keySched) Cancel(string) bool { return false }

func (s *keySched) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

// TestBatchSupersededWhileQueuedSkipsTheCall: a message that arrives while a
// due batch waits for a slot re-arms the batch; the waiting fire then gives
// its slot back without asking the provider for an answer that would be
// dropped.
func TestBatchSupersededWhileQueuedSkipsTheCall(t *testing.T) {
	_, st, ten := turnSetup(t)
	q := queue.New(1)
	prov := newGatedProvider()
	sched := &keySched{}
	p := ai.NewPipeline(st, prov, nil, nil, ai.PipelineConfig{Queue: q})
	if err := p.StartDebounce(context.Background(), sched); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.StopDebounce)
	ctx := context.Background()
	errs := make(chan error, 1)
	go func() { _, err := p.Process(ctx, ten, textIn("holder", "hold")); errs <- err }()
	prov.waitEntered(t)

	if _, err := p.Enqueue(ctx, ten, textIn("lead", "oi"), "https://app.example/cb"); err != nil {
		t.Fatal(err)
	}
	p.Fire(sched.last())
	waitDepth(t, q, 1)
	if _, err := p.Enqueue(ctx, ten, textIn("lead", "tudo bem?"), "https://app.example/cb"); err != nil {
		t.Fatal(err)
	}
	prov.gate <- struct{}{}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	prov.noneEntered(t, "for a batch superseded while it waited")
	if q.InFlight() != 0 {
		t.Fatalf("%d slots held after the superseded fire", q.InFlight())
	}
	p.Fire(sched.last())
	if got := prov.waitEntered(t); got != "oi\ntudo bem?" {
		t.Fatalf("the re-armed batch asked for %q, want both messages", got)
	}
	prov.gate <- struct{}{}
}

// panicky is a provider that panics mid-call.
type panicky struct{ *gatedProvider }

func (panicky) Complete(context.Context, ai.Request) (string, error) { panic("provider bug") }

// TestPanickingProviderGivesTheSlotBack: the slot of a call that panicked
// is free again (the server's recover middleware keeps the process alive).
func TestPanickingProviderGivesTheSlotBack(t *testing.T) {
	_, st, ten := turnSetup(t)
	q := queue.New(1)
	p := ai.NewPipeline(st, panicky{newGatedProvider()}, nil, nil, ai.PipelineConfig{Queue: q})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the provider's panic did not reach the caller")
			}
		}()
		p.Process(context.Background(), ten, textIn("lead", "oi"))
	}()
	if q.InFlight() != 0 {
		t.Fatalf("%d slots held after a panicking call", q.InFlight())
	}
}
