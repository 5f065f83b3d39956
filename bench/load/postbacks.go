package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The postback scenarios measure the outbox against one slow receiver, the
// way a WhatsApp gateway receives every answer of a tenant at one URL:
//
//	go run ./bench/load -scenario postbacks -latency 200ms
//	go run ./bench/load -scenario postback-latency -latency 200ms -answers 1000
//
// Their flags live here rather than in main.go's options: no other scenario
// has a receiver latency.
var (
	pbLatency = flag.Duration("latency", 200*time.Millisecond, "postbacks, postback-latency: the receiver's time per request")
	pbCount   = flag.Int("postbacks", 3000, "postbacks: deliveries queued before the receiver opens")
	pbAnswers = flag.Int("answers", 1000, "postback-latency: debounced conversations, one message each")
)

// pbEnv keeps a request held by a closed gate (up to a minute while the
// outbox fills) from timing out into a retry, which would park the rest.
var pbEnv = []string{"PARLEY_DELIVERY_TIMEOUT=300s"}

// slowReceiver answers every POST with 200 after its latency. While gated it
// holds requests before that wait, so the outbox can be filled first.
type slowReceiver struct {
	*httptest.Server
	latency time.Duration
	gate    chan struct{}

	mu    sync.Mutex
	first map[string]time.Time // X-Parley-Delivery → first receipt
	body  map[string][]byte    // X-Parley-Delivery → first body
	done  int                  // answers sent
	last  time.Time            // the latest answer
}

func newSlowReceiver(latency time.Duration, gated bool) *slowReceiver {
	r := &slowReceiver{latency: latency, gate: make(chan struct{}), first: map[string]time.Time{}, body: map[string][]byte{}}
	if !gated {
		close(r.gate)
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		b, _ := io.ReadAll(req.Body)
		id := req.Header.Get("X-Parley-Delivery")
		r.mu.Lock()
		if _, seen := r.first[id]; !seen {
			r.first[id], r.body[id] = at, b
		}
		r.mu.Unlock()
		<-r.gate
		time.Sleep(r.latency)
		r.mu.Lock()
		r.done, r.last = r.done+1, time.Now()
		r.mu.Unlock()
	}))
	return r
}

// answered reports how many answers were sent and when the latest was.
func (r *slowReceiver) answered() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done, r.last
}

func (r *slowReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first)
}

// debounceAll makes the default assistant debounce with the given window.
func debounceAll(ctx context.Context, t *target, window float64) error {
	var as struct {
		Data []struct {
			ID        string `json:"id"`
			IsDefault bool   `json:"is_default"`
		} `json:"data"`
	}
	if err := t.call(ctx, "GET", "/backend/assistants", nil, &as); err != nil {
		return err
	}
	for _, a := range as.Data {
		if a.IsDefault {
			return t.call(ctx, "PUT", "/backend/assistants/"+a.ID, map[string]any{"debounce_seconds": window,
				"debounce_max_wait_seconds": window}, nil)
		}
	}
	return fmt.Errorf("no default assistant")
}

// sendDebounced sends one debounced message to each of n leads with
// o.clients workers and returns each message id's send time.
func sendDebounced(ctx context.Context, t *target, o options, n int, postback string) (map[string]time.Time, error) {
	var next atomic.Int64
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var firstErr error
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				at := time.Now()
				var q struct {
					MessageID string `json:"message_id"`
				}
				err := t.call(ctx, "POST", "/ai/process", map[string]any{"tenant_id": t.tenant,
					"lead_id": fmt.Sprintf("55119%08d@s.whatsapp.net", i), "role": "user", "content": fmt.Sprintf("oi %d", i),
					"message_type": "text", "debounce": true, "postback_url": postback}, &q)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				} else if err == nil {
					sent[q.MessageID] = at
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return sent, firstErr
}

// pendingDeliveries is the tenant's count of pending deliveries.
func pendingDeliveries(ctx context.Context, t *target) (int, error) {
	var l struct {
		Pagination struct {
			Total int `json:"total"`
		} `json:"pagination"`
	}
	err := t.call(ctx, "GET", "/backend/deliveries?status=pending&limit=1", nil, &l)
	return l.Pagination.Total, err
}

// postbacks queues -postbacks postbacks to one gated receiver, opens it and
// reports how many it answered per second: answers until the queue is empty
// or -duration has passed, over the time from opening to the last of them.
func postbacks(ctx context.Context, o options) (result, error) {
	rc := newSlowReceiver(*pbLatency, true)
	defer rc.Close()
	defer rc.CloseClientConnections()
	t, err := startTarget(ctx, o, pbEnv...)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	defer func() {
		select {
		case <-rc.gate:
		default:
			close(rc.gate)
		}
	}()
	if err := debounceAll(ctx, t, 0.2); err != nil {
		return result{}, err
	}
	if _, err := sendDebounced(ctx, t, o, *pbCount, rc.URL+"/cb"); err != nil {
		return result{}, err
	}
	filled := time.Now()
	for {
		n, err := pendingDeliveries(ctx, t)
		if err != nil {
			return result{}, err
		}
		if n >= *pbCount {
			break
		}
		if time.Since(filled) > time.Minute {
			return result{}, fmt.Errorf("only %d of %d postbacks queued after a minute", n, *pbCount)
		}
		time.Sleep(50 * time.Millisecond)
	}
	opened := time.Now()
	close(rc.gate)
	deadline := opened.Add(o.duration)
	n, last := rc.answered()
	for n < *pbCount && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		n, last = rc.answered()
	}
	if n == 0 {
		return result{}, fmt.Errorf("no postback answered within %v", o.duration)
	}
	elapsed := last.Sub(opened)
	r := result{Requests: n, Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds()}
	r.Extra = map[string]float64{"receiver_latency_ms": float64(pbLatency.Milliseconds())}
	return r, nil
}

// postbackLatency sends one debounced message (1 s window) to each of
// -answers leads as fast as the clients go and reports, per message, the time
// from sending it to the first receipt of its postback at a receiver that
// takes -latency per request. The window is part of the figure.
func postbackLatency(ctx context.Context, o options) (result, error) {
	rc := newSlowReceiver(*pbLatency, false)
	defer rc.Close()
	defer rc.CloseClientConnections()
	t, err := startTarget(ctx, o, pbEnv...)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	if err := debounceAll(ctx, t, 1); err != nil {
		return result{}, err
	}
	began := time.Now()
	sent, err := sendDebounced(ctx, t, o, *pbAnswers, rc.URL+"/cb")
	if err != nil {
		return result{}, err
	}
	intake := time.Since(began)
	// Before the change a 200 ms receiver took 5 postbacks/s: give it room.
	wait := time.Duration(*pbAnswers)*(*pbLatency+20*time.Millisecond) + time.Minute
	for rc.distinct() < *pbAnswers && time.Since(began) < wait && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	rc.mu.Lock()
	var lat []time.Duration
	for id, at := range rc.first {
		var pb struct {
			MessageIDs []string `json:"message_ids"`
		}
		json.Unmarshal(rc.body[id], &pb)
		for _, m := range pb.MessageIDs {
			if s, ok := sent[m]; ok {
				lat = append(lat, at.Sub(s))
			}
		}
	}
	rc.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := summarize(lat, time.Since(began))
	r.Lost = *pbAnswers - len(lat)
	r.PerSecond = 0 // not a throughput figure
	r.Extra = map[string]float64{"receiver_latency_ms": float64(pbLatency.Milliseconds()), "intake_s": intake.Seconds()}
	return r, nil
}
