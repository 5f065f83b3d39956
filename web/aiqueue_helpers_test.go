package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/ai/queue"
)

// slowOpenAI is an httptest fake of the OpenAI chat completions API (plain
// and streamed) that takes 300–500 ms per answer and records what a queue in
// front of it must guarantee: how many requests it served at once, and the
// order and time in which the turns' texts arrived.
type slowOpenAI struct {
	*httptest.Server
	mu       sync.Mutex
	cur      int
	peak     int
	texts    []string    // the last user message of each request, in arrival order
	arrivals []time.Time // when each arrived

	// gate, when set before requests arrive, holds each one until closed.
	gate chan struct{}
	// fail, when set, may answer request n (1-based) for text with an
	// error status and a Retry-After header.
	fail func(n int, text string) (status int, retryAfter string)
}

func newSlowOpenAI(t testing.TB) *slowOpenAI {
	t.Helper()
	f := &slowOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// provider is an OpenAI provider on the fake; its own retries are off so
// that every call the fake sees is one the pipeline made.
func (f *slowOpenAI) provider(timeout time.Duration) *ai.OpenAI {
	return ai.NewOpenAI(ai.OpenAIConfig{BaseURL: f.URL + "/v1", APIKey: "sk-queue-test", Timeout: timeout, MaxRetries: -1})
}

func (f *slowOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // before anything: net/http sees a client leave only once the body is read
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Content any `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	text, _ := req.Messages[len(req.Messages)-1].Content.(string)
	f.mu.Lock()
	f.texts = append(f.texts, text)
	f.arrivals = append(f.arrivals, time.Now())
	n := len(f.texts)
	f.cur++
	f.peak = max(f.peak, f.cur)
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.cur--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	select {
	case <-time.After(300*time.Millisecond + time.Duration(n*37%200)*time.Millisecond):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if fail != nil {
		if status, after := fail(n, text); status != 0 {
			if after != "" {
				w.Header().Set("Retry-After", after)
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"fake %d","type":"rate_limit"}}`, status)
			return
		}
	}
	answer := "answer to " + text
	if req.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range []string{"answer ", "to ", text} {
			chunk, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
				"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": tok}}}})
			fmt.Fprintf(w, "data: %s\n\n", chunk)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	a, _ := json.Marshal(answer)
	fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":1,"model":"m",
"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}]}`, n, a)
}

// seen returns the peak of requests served at once and the texts in
// arrival order.
func (f *slowOpenAI) seen() (peak int, texts []string, arrivals []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peak, append([]string(nil), f.texts...), append([]time.Time(nil), f.arrivals...)
}

// queueEnv is an env whose provider is the slow fake behind a queue of cap
// slots.
func queueEnv(t *testing.T, cap int, timeout time.Duration, mutate ...func(*envOpts)) (*env, *slowOpenAI, *queue.Queue) {
	t.Helper()
	f := newSlowOpenAI(t)
	q := queue.New(cap)
	o := envOpts{Provider: f.provider(timeout), AIQueue: q}
	for _, m := range mutate {
		m(&o)
	}
	return newEnvWith(t, o), f, q
}

// post sends a JSON request with key under ctx, from any goroutine (it
// never fails the test itself).
func post(ctx context.Context, e *env, key, path string, body any) (response, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: rb}, err
}

// syncTurn is the body of a synchronous /ai/process turn.
func syncTurn(tenant, lead, text string) obj {
	return obj{"tenant_id": tenant, "lead_id": lead, "role": "user", "content": text, "message_type": "text"}
}

// waitDepth waits until n provider calls wait in q.
func waitDepth(t *testing.T, q *queue.Queue, n int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("queue depth %d", n), func() bool { return q.Depth() == n })
}
