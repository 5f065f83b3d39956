package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-dev/parley/ai"
)

// procProvider is a scriptable ai.Provider that records every call: how many,
// what it was asked, and how many calls ran at the same time.
type procProvider struct {
	mu        sync.Mutex
	calls     int
	reqs      []ai.Request
	audios    []ai.Audio
	active    int
	maxActive int

	// complete answers call n (1-based); nil answers "You said: " + UserText.
	complete func(ctx context.Context, n int, req ai.Request) (string, error)
	// transcribe transcribes; nil returns ai.ErrNoTranscription.
	transcribe func(ctx context.Context, a ai.Audio) (string, error)
}

var _ ai.Provider = (*procProvider)(nil)

func (p *procProvider) Complete(ctx context.Context, req ai.Request) (string, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.reqs = append(p.reqs, req)
	p.active++
	p.maxActive = max(p.maxActive, p.active)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.active--
		p.mu.Unlock()
	}()
	if p.complete != nil {
		return p.complete(ctx, n, req)
	}
	return "You said: " + req.UserText, nil
}

func (p *procProvider) Stream(ctx context.Context, req ai.Request, onToken func(string) error) (string, error) {
	text, err := p.Complete(ctx, req)
	if err != nil {
		return "", err
	}
	if onToken != nil {
		if err := onToken(text); err != nil {
			return "", err
		}
	}
	return text, nil
}

func (p *procProvider) Transcribe(ctx context.Context, a ai.Audio) (string, error) {
	p.mu.Lock()
	p.audios = append(p.audios, a)
	p.mu.Unlock()
	if p.transcribe == nil {
		return "", ai.ErrNoTranscription
	}
	return p.transcribe(ctx, a)
}

// Calls is the number of Complete calls so far.
func (p *procProvider) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Requests returns a copy of the requests seen.
func (p *procProvider) Requests() []ai.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ai.Request(nil), p.reqs...)
}

// procMsg builds a valid sync /ai/process body for the env's tenant; extra
// overrides or adds fields (a nil value deletes the field).
func procMsg(e *env, lead, content string, extra ...obj) obj {
	b := obj{"tenant_id": e.tenant.ID(), "lead_id": lead, "role": "user", "content": content, "message_type": "text"}
	for _, x := range extra {
		for k, v := range x {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
	}
	return b
}

// procResult is the body of a sync /ai/process answer.
type procResult struct {
	Success           bool    `json:"success"`
	Response          *string `json:"response"`
	ConversationID    string  `json:"conversation_id"`
	LeadID            string  `json:"lead_id"`
	MessageID         string  `json:"message_id"`
	ResponseMessageID *string `json:"response_message_id"`
	Skipped           string  `json:"skipped"`
}

// procProcess POSTs body to /ai/process and wants a 200.
func procProcess(t *testing.T, e *env, body obj) procResult {
	t.Helper()
	r := e.do(http.MethodPost, "/ai/process", body)
	if r.Status != http.StatusOK {
		t.Fatalf("POST /ai/process %v: status %d, body %s", body, r.Status, r.Body)
	}
	var res procResult
	r.JSON(t, &res)
	if !res.Success || res.MessageID == "" || res.ConversationID == "" {
		t.Fatalf("POST /ai/process: %s", r.Body)
	}
	return res
}

// procPost sends POST /ai/process with key and headers, safe to call from any
// goroutine: it returns errors instead of failing the test.
func procPost(e *env, key string, body any, header map[string]string) (response, error) {
	j, err := json.Marshal(body)
	if err != nil {
		return response{}, err
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/ai/process", bytes.NewReader(j))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}, err
}

// procConcurrent sends n requests at once and returns their responses.
func procConcurrent(t *testing.T, n int, send func(i int) (response, error)) []response {
	t.Helper()
	out := make([]response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = send(i)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return out
}

// procLeadMessages returns a lead's stored messages, oldest first, through
// GET /backend/messages/{lead_id}.
func procLeadMessages(t *testing.T, e *env, lead string) []obj {
	t.Helper()
	return wantData[[]obj](t, e.do(http.MethodGet, "/backend/messages/"+url.PathEscape(lead)+"?limit=100", nil), http.StatusOK).Data
}

// procLeadExists says whether GET /backend/leads/{id} finds the lead.
func procLeadExists(t *testing.T, e *env, lead string) bool {
	t.Helper()
	r := e.do(http.MethodGet, "/backend/leads/"+url.PathEscape(lead), nil)
	switch r.Status {
	case http.StatusOK:
		return true
	case http.StatusNotFound:
		return false
	}
	t.Fatalf("GET lead %s: status %d %s", lead, r.Status, r.Body)
	return false
}

// procMedia serves fixed bodies by path from an httptest server and counts
// the requests per path.
type procMedia struct {
	*httptest.Server
	hits  sync.Map // path → *atomic.Int64
	files map[string]procFile
}

type procFile struct {
	contentType string
	body        []byte
	status      int                                      // 0 = 200
	handler     func(http.ResponseWriter, *http.Request) // overrides the rest
}

func newProcMedia(t *testing.T, files map[string]procFile) *procMedia {
	t.Helper()
	m := &procMedia{files: files}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := m.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		f, ok := m.files[r.URL.Path]
		switch {
		case !ok:
			http.NotFound(w, r)
		case f.handler != nil:
			f.handler(w, r)
		default:
			if f.contentType != "" {
				w.Header().Set("Content-Type", f.contentType)
			}
			if f.status != 0 {
				w.WriteHeader(f.status)
			}
			_, _ = w.Write(f.body)
		}
	}))
	t.Cleanup(m.Close)
	return m
}

// Hits is the number of requests path received.
func (m *procMedia) Hits(path string) int64 {
	c, ok := m.hits.Load(path)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}
