package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// hammer runs o.clients closed-loop workers for o.duration; each calls req
// with a growing sequence number. It returns the figures of the run.
func hammer(ctx context.Context, o options, req func(ctx context.Context, n int) error) result {
	var seq, errs atomic.Int64
	lat := make([][]time.Duration, o.clients)
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(seq.Add(1))
				t0 := time.Now()
				err := req(ctx, n)
				if ctx.Err() != nil {
					return // cut by the end of the run: not a sample
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := summarize(all, elapsed)
	r.Errors = int(errs.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Printf("# first error: %v\n", e)
	}
	return r
}

// summarize computes throughput and latency percentiles.
func summarize(all []time.Duration, elapsed time.Duration) result {
	r := result{Requests: len(all), Seconds: elapsed.Seconds()}
	if len(all) == 0 {
		return r
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.PerSecond = float64(len(all)) / elapsed.Seconds()
	r.P50ms = ms(all[len(all)/2])
	r.P99ms = ms(all[len(all)*99/100])
	r.MaxMs = ms(all[len(all)-1])
	return r
}

func leadID(o options, n int) string { return fmt.Sprintf("55119%08d@s.whatsapp.net", n%o.leads) }

func processSync(ctx context.Context, o options) (result, error) {
	t, err := startTarget(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	r := hammer(ctx, o, func(ctx context.Context, n int) error {
		return t.call(ctx, "POST", "/ai/process", map[string]any{"tenant_id": t.tenant, "lead_id": leadID(o, n),
			"role": "user", "content": fmt.Sprintf("mensagem %d: quanto custa o plano?", n), "message_type": "text"}, nil)
	})
	r.RSSBytes = t.rss()
	return r, nil
}

func processDebounce(ctx context.Context, o options) (result, error) {
	sink := newSink()
	defer sink.Close()
	t, err := startTarget(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	r := hammer(ctx, o, func(ctx context.Context, n int) error {
		return t.call(ctx, "POST", "/ai/process", map[string]any{"tenant_id": t.tenant, "lead_id": leadID(o, n),
			"role": "user", "content": fmt.Sprintf("oi %d", n), "message_type": "text", "debounce": true,
			"postback_url": sink.URL}, nil)
	})
	r.RSSBytes = t.rss()
	return r, nil
}

func send(ctx context.Context, o options) (result, error) {
	t, err := startTarget(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	// Leads must exist for /send: create them up front (not measured).
	if err := makeLeads(ctx, t, o); err != nil {
		return result{}, err
	}
	r := hammer(ctx, o, func(ctx context.Context, n int) error {
		return t.call(ctx, "POST", "/backend/messages/send", map[string]any{"lead_id": leadID(o, n),
			"content": fmt.Sprintf("Olá! Aqui é a Maria, mensagem %d.", n)}, nil)
	})
	r.RSSBytes = t.rss()
	return r, nil
}

// makeLeads creates o.leads leads with o.clients workers; those a reused
// -db already holds (409) are fine.
func makeLeads(ctx context.Context, t *target, o options) error {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= o.leads || ctx.Err() != nil {
					return
				}
				code, b, err := t.do(ctx, "POST", "/backend/leads", map[string]any{"id": leadID(o, n)})
				if err == nil && code >= 300 && code != http.StatusConflict {
					err = fmt.Errorf("POST /backend/leads: %d %s", code, b)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
