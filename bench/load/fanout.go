package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// subscriber is one raw SSE connection that records what it receives.
type subscriber struct {
	conn   net.Conn
	lastID int64
	gaps   int
	count  int
	lat    []time.Duration
}

// dialStream opens /backend/conversations/stream over a raw TCP connection
// (lighter than net/http for thousands of readers) and waits for the first
// frame.
func dialStream(t *target) (*subscriber, *bufio.Reader, error) { return dialStreamAfter(t, 0) }

// dialStreamAfter resumes after event lastID (0: from now), as EventSource
// does when it reconnects.
func dialStreamAfter(t *target, lastID int64) (*subscriber, *bufio.Reader, error) {
	u, _ := url.Parse(t.base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, nil, err
	}
	resume := ""
	if lastID > 0 {
		resume = fmt.Sprintf("Last-Event-ID: %d\r\n", lastID)
	}
	fmt.Fprintf(c, "GET /backend/conversations/stream?token=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s\r\n",
		t.key, u.Host, resume)
	br := bufio.NewReaderSize(c, 4096)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		c.Close()
		return nil, nil, fmt.Errorf("stream: %q %v", status, err)
	}
	return &subscriber{conn: c}, br, nil
}

// read consumes frames until the connection ends, recording new_message
// latencies (the content carries the publish time) and id gaps.
func (s *subscriber) read(br *bufio.Reader, want int, done func()) {
	defer done()
	marker := []byte("t=")
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if bytes.HasPrefix(line, []byte("id: ")) {
			id, _ := strconv.ParseInt(string(bytes.TrimSpace(line[4:])), 10, 64)
			if s.lastID != 0 && id != s.lastID+1 {
				s.gaps++
			}
			s.lastID = id
			continue
		}
		if !bytes.HasPrefix(line, []byte("data: ")) || !bytes.Contains(line, []byte(`"new_message"`)) {
			continue
		}
		if i := bytes.Index(line, marker); i >= 0 {
			j := i + 2
			for j < len(line) && line[j] >= '0' && line[j] <= '9' {
				j++
			}
			if ns, err := strconv.ParseInt(string(line[i+2:j]), 10, 64); err == nil {
				s.lat = append(s.lat, time.Since(time.Unix(0, ns)))
			}
		}
		s.count++
		if s.count == want {
			return
		}
	}
}

func fanout(ctx context.Context, o options) (result, error) {
	t, err := startTarget(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer t.stop()
	// One lead to publish to (role assistant: exactly one event per message).
	if err := t.call(ctx, "POST", "/backend/leads", map[string]any{"id": "fanout-lead"}, nil); err != nil {
		return result{}, err
	}
	time.Sleep(200 * time.Millisecond)
	before := t.rss()
	subs := make([]*subscriber, o.subs)
	var wg sync.WaitGroup
	var connected atomic.Int64
	for i := range subs {
		s, br, err := dialStream(t)
		if err != nil {
			return result{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		subs[i] = s
		connected.Add(1)
		wg.Add(1)
		go s.read(br, o.events, wg.Done)
	}
	time.Sleep(500 * time.Millisecond)
	after := t.rss()
	mem := scrapeGauges(ctx, t, "parley_go_memstats_stack_inuse_bytes", "parley_go_memstats_heap_inuse_bytes",
		"parley_go_goroutines")
	var stalled []*subscriber
	for i := 0; i < o.stalled; i++ {
		s, _, err := dialStream(t)
		if err != nil {
			return result{}, fmt.Errorf("stalled subscriber %d: %w", i, err)
		}
		stalled = append(stalled, s)
	}
	evicted := watchEvictions(ctx, t, o.stalled)
	pad := strings.Repeat("x", o.pad)

	start := time.Now()
	var next atomic.Int64
	var pwg sync.WaitGroup
	var errs atomic.Int64
	for p := 0; p < 4; p++ { // four publishers
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for {
				n := next.Add(1)
				if n > int64(o.events) {
					return
				}
				body := map[string]any{"lead_id": "fanout-lead", "role": "assistant",
					"content": "t=" + strconv.FormatInt(time.Now().UnixNano(), 10) + " message " + strconv.FormatInt(n, 10) + pad}
				if err := t.call(ctx, "POST", "/backend/messages/send", body, nil); err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	pwg.Wait()
	published := time.Since(start)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
	}
	elapsed := time.Since(start)
	for _, s := range subs {
		s.conn.Close()
	}
	<-finished
	evictedAfter := <-evicted
	for _, s := range stalled {
		s.conn.Close()
	}

	var all []time.Duration
	lost, gaps := 0, 0
	for _, s := range subs {
		all = append(all, s.lat...)
		lost += o.events - s.count
		gaps += s.gaps
	}
	r := summarize(all, elapsed)
	r.Requests = 0
	r.PerSecond = float64(len(all)) / elapsed.Seconds()
	r.Lost, r.Errors = lost, int(errs.Load())
	r.RSSBytes = after
	r.RSSPerSubKB = float64(after-before) / float64(o.subs) / 1024
	r.Extra = map[string]float64{"subscribers": float64(o.subs), "events": float64(o.events),
		"publish_per_second": float64(o.events) / published.Seconds(), "id_gaps": float64(gaps)}
	if o.stalled > 0 {
		r.Extra["stalled_evicted_after_s"] = evictedAfter.Seconds()
	}
	// Where the subscribers' memory is: goroutine stacks and heap, per subscriber.
	r.Extra["stack_kb_per_subscriber"] = mem["parley_go_memstats_stack_inuse_bytes"] / float64(o.subs) / 1024
	r.Extra["heap_kb_per_subscriber"] = mem["parley_go_memstats_heap_inuse_bytes"] / float64(o.subs) / 1024
	r.Extra["goroutines_per_subscriber"] = mem["parley_go_goroutines"] / float64(o.subs)
	return r, nil
}

// watchEvictions polls the server's metrics until n subscribers were evicted
// and sends how long that took from now (-1 s if it never happened in 60 s).
func watchEvictions(ctx context.Context, t *target, n int) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	if n == 0 {
		out <- 0
		return out
	}
	start := time.Now()
	go func() {
		for time.Since(start) < 60*time.Second && ctx.Err() == nil {
			_, b, err := t.do(ctx, "GET", "/metrics", nil)
			if err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "parley_sse_evictions_total "); ok {
						if f, _ := strconv.ParseFloat(v, 64); int(f) >= n {
							out <- time.Since(start)
							return
						}
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		out <- -time.Second
	}()
	return out
}

// scrapeGauges reads the named series from the server's /metrics.
func scrapeGauges(ctx context.Context, t *target, names ...string) map[string]float64 {
	out := map[string]float64{}
	_, b, err := t.do(ctx, "GET", "/metrics", nil)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if v, ok := strings.CutPrefix(line, n+" "); ok {
				out[n], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}
