package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// The ai-queue scenario: -clients leads each send one synchronous turn at
// the same moment to a server whose AI provider is a fake local model that
// serves -provider-slots requests at once and queues the rest (as Ollama
// does with OLLAMA_NUM_PARALLEL), taking -provider-answer per answer. The
// server's PARLEY_AI_CONCURRENCY and PARLEY_OPENAI_TIMEOUT come from this
// tool's environment.
//
//	PARLEY_AI_CONCURRENCY=4 go run ./bench/load -scenario ai-queue -clients 100 -runs 3
var (
	providerSlots  = flag.Int("provider-slots", 4, "ai-queue: requests the fake provider serves at once (it queues the rest)")
	providerAnswer = flag.Duration("provider-answer", time.Second, "ai-queue: time the fake provider takes per answer")
)

// slotProvider is the fake local model: an OpenAI-compatible chat endpoint
// with a fixed number of slots; a request whose client gives up while it
// waits for one leaves its queue, as Ollama's do.
type slotProvider struct {
	*httptest.Server
	slots             chan struct{}
	answer            time.Duration
	open, peakOpen    atomic.Int64 // requests open at the provider, served or waiting
	served, abandoned atomic.Int64
}

func newSlotProvider(slots int, answer time.Duration) *slotProvider {
	p := &slotProvider{slots: make(chan struct{}, slots), answer: answer}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

func (p *slotProvider) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	n := p.open.Add(1)
	defer p.open.Add(-1)
	for m := p.peakOpen.Load(); n > m && !p.peakOpen.CompareAndSwap(m, n); m = p.peakOpen.Load() {
	}
	select { // Go hands a channel's free slot to its waiters in arrival order
	case p.slots <- struct{}{}:
	case <-r.Context().Done():
		p.abandoned.Add(1)
		return
	}
	defer func() { <-p.slots }()
	select {
	case <-time.After(p.answer):
	case <-r.Context().Done():
		p.abandoned.Add(1)
		return
	}
	p.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Claro! O plano custa R$ 99."},"finish_reason":"stop"}]}`)
}

func aiQueue(ctx context.Context, o options) (result, error) {
	prov := newSlotProvider(*providerSlots, *providerAnswer)
	defer prov.Close()
	t, err := startTarget(ctx, o, "PARLEY_AI_PROVIDER=openai", "PARLEY_OPENAI_BASE_URL="+prov.URL+"/v1",
		"PARLEY_OPENAI_API_KEY=sk-load")
	if err != nil {
		return result{}, err
	}
	defer t.stop()

	var mu sync.Mutex
	var answered []time.Duration
	var failed, timeouts int
	var firstErr string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			code, body, err := t.do(ctx, "POST", "/ai/process", map[string]any{"tenant_id": t.tenant,
				"lead_id": fmt.Sprintf("55119%08d@s.whatsapp.net", i), "role": "user",
				"content": "Olá, quanto custa o plano?", "message_type": "text"})
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && code == http.StatusOK:
				answered = append(answered, took)
				return
			case err == nil && isProviderTimeout(body):
				timeouts++
			}
			failed++
			if firstErr == "" {
				firstErr = fmt.Sprintf("%d %s %v", code, bytes.TrimSpace(body), err)
			}
		}()
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(begin)
	if firstErr != "" {
		fmt.Printf("# first error: %s\n", firstErr)
	}
	r := summarize(answered, elapsed)
	r.Errors = failed
	r.RSSBytes = t.rss()
	r.Extra = map[string]float64{
		"leads":              float64(o.clients),
		"timeout_share":      float64(timeouts) / float64(o.clients),
		"failed_share":       float64(failed) / float64(o.clients),
		"provider_open_peak": float64(prov.peakOpen.Load()),
		"provider_abandoned": float64(prov.abandoned.Load()),
	}
	return r, nil
}

// isProviderTimeout tells a turn that failed because its provider call ran
// out of time (502 naming no upstream status) from other failures.
func isProviderTimeout(body []byte) bool {
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	return json.Unmarshal(body, &p) == nil && p.Status == http.StatusBadGateway && bytes.Contains([]byte(p.Detail), []byte("no response"))
}
