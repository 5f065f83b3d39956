package ai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sk-test-SECRET-0123456789"

// fakeOpenAI is an httptest fake of the OpenAI API that records what it
// received.
type fakeOpenAI struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	auth     []string
	chat     []map[string]any // decoded chat bodies
	files    []fakeFile       // transcription uploads

	// failures: the first failN requests answer failStatus (failN < 0: all).
	failN      int
	failStatus int
	// tokens streamed by the SSE answer; streamGate, when set, is waited
	// on after the first token, to prove tokens arrive as they are sent.
	tokens     []string
	streamGate chan struct{}
	delay      time.Duration
}

type fakeFile struct {
	filename, contentType, model string
	size                         int
}

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{tokens: []string{"Hel", "lo", " there", "!"}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) provider(cfg OpenAIConfig) *OpenAI {
	cfg.BaseURL = f.URL + "/v1"
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	return NewOpenAI(cfg)
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	// Read the body first: net/http notices a client that went away only
	// once the request body is consumed.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if f.failN < 0 || n <= f.failN {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After-Ms", "1")
		w.WriteHeader(f.failStatus)
		fmt.Fprintf(w, `{"error":{"message":"boom for key %s","type":"server_error","code":null,"param":null}}`, testKey)
		return
	}
	switch r.URL.Path {
	case "/v1/chat/completions":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.mu.Lock()
		f.chat = append(f.chat, body)
		f.mu.Unlock()
		if body["stream"] == true {
			f.serveStream(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there!"},"finish_reason":"stop"}]}`)
	case "/v1/audio/transcriptions":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		file, hdr, err := r.FormFile("file")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		data, _ := io.ReadAll(file)
		f.mu.Lock()
		f.files = append(f.files, fakeFile{hdr.Filename, hdr.Header.Get("Content-Type"), r.FormValue("model"), len(data)})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"text":" hola, quiero una pizza "}`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeOpenAI) serveStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i, tok := range f.tokens {
		chunk, _ := json.Marshal(map[string]any{
			"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": tok}, "finish_reason": nil}},
		})
		fmt.Fprintf(w, "data: %s\n\n", chunk)
		fl.Flush()
		if i == 0 && f.streamGate != nil {
			select {
			case <-f.streamGate:
			case <-time.After(5 * time.Second):
				return
			}
		}
	}
	fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
}

var pngBytes = []byte("\x89PNG\r\n\x1a\nfake")

func chatRequest() Request {
	temp := 0.3
	return Request{
		SystemPrompt: "You are Parley.",
		Model:        "custom-model",
		Temperature:  &temp,
		Turns: []Turn{
			{Role: RoleUser, Text: "first question"},
			{Role: RoleAssistant, Text: "first answer"},
			{Role: RoleUser, Text: "what is in this picture?", Images: []Image{{MIME: "image/png", Data: pngBytes}}},
		},
		UserText: "what is in this picture?",
	}
}

func checkChatBody(t *testing.T, body map[string]any) {
	t.Helper()
	if body["model"] != "custom-model" || body["temperature"] != 0.3 {
		t.Fatalf("model/temperature not passed: %v / %v", body["model"], body["temperature"])
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4: %v", len(msgs), msgs)
	}
	role := func(i int) string { return msgs[i].(map[string]any)["role"].(string) }
	content := func(i int) any { return msgs[i].(map[string]any)["content"] }
	if role(0) != "system" || content(0) != "You are Parley." {
		t.Fatalf("first message is not the system prompt: %v", msgs[0])
	}
	if role(1) != "user" || content(1) != "first question" || role(2) != "assistant" || content(2) != "first answer" {
		t.Fatalf("history out of order: %v %v", msgs[1], msgs[2])
	}
	parts, ok := content(3).([]any)
	if role(3) != "user" || !ok || len(parts) != 2 {
		t.Fatalf("last message should be text + image parts: %v", msgs[3])
	}
	text := parts[0].(map[string]any)
	img := parts[1].(map[string]any)
	wantURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)
	if text["type"] != "text" || text["text"] != "what is in this picture?" {
		t.Fatalf("text part: %v", text)
	}
	if img["type"] != "image_url" || img["image_url"].(map[string]any)["url"] != wantURL {
		t.Fatalf("image part: %v, want url %s", img, wantURL)
	}
}

func TestOpenAIComplete(t *testing.T) {
	f := newFakeOpenAI(t)
	got, err := f.provider(OpenAIConfig{}).Complete(context.Background(), chatRequest())
	if err != nil || got != "Hello there!" {
		t.Fatalf("Complete = %q, %v", got, err)
	}
	checkChatBody(t, f.chat[0])
	if f.chat[0]["stream"] == true {
		t.Fatal("Complete must not stream")
	}
	if f.auth[0] != "Bearer "+testKey {
		t.Fatalf("Authorization = %q", f.auth[0])
	}

	// Defaults: provider model, no temperature.
	p := f.provider(OpenAIConfig{Model: "llama3.2"})
	if _, err := p.Complete(context.Background(), Request{Turns: []Turn{{Role: RoleUser, Text: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	body := f.chat[1]
	if _, has := body["temperature"]; has || body["model"] != "llama3.2" {
		t.Fatalf("defaults not applied: %v", body)
	}
	if msgs := body["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["content"] != "hi" {
		t.Fatalf("without a system prompt the turns come alone: %v", msgs)
	}
}

func TestOpenAIStream(t *testing.T) {
	f := newFakeOpenAI(t)
	f.streamGate = make(chan struct{})
	var tokens []string
	got, err := f.provider(OpenAIConfig{}).Stream(context.Background(), chatRequest(), func(tok string) error {
		tokens = append(tokens, tok)
		if len(tokens) == 1 {
			close(f.streamGate) // the server sends the rest only now
		}
		return nil
	})
	if err != nil || got != "Hello there!" {
		t.Fatalf("Stream = %q, %v", got, err)
	}
	if strings.Join(tokens, "|") != "Hel|lo| there|!" {
		t.Fatalf("tokens = %q", tokens)
	}
	checkChatBody(t, f.chat[0])
	if f.chat[0]["stream"] != true {
		t.Fatal("Stream must ask for stream:true")
	}

	stop := errors.New("superseded")
	tokens = nil
	got, err = f.provider(OpenAIConfig{}).Stream(context.Background(), chatRequest(), func(tok string) error {
		if len(tokens) == 2 {
			return stop
		}
		tokens = append(tokens, tok)
		return nil
	})
	if !errors.Is(err, stop) || got != "Hello" {
		t.Fatalf("stopped Stream = %q, %v; want %q and the onToken error", got, err, "Hello")
	}
}

func TestOpenAITranscribe(t *testing.T) {
	cases := []struct {
		name, data, mime, wantFile, wantType string
	}{
		{"ogg opus voice note", "OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead", "audio/ogg; codecs=opus", "audio.ogg", "audio/ogg"},
		{"oga declared as octet-stream", "OggS\x00\x02", "application/octet-stream", "audio.ogg", "audio/ogg"},
		{"mp3", "ID3\x04\x00\x00\x00\x00\x00\x00", "", "audio.mp3", "audio/mpeg"},
		{"wav", "RIFF\x24\x00\x00\x00WAVEfmt ", "", "audio.wav", "audio/wav"},
		{"webm", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "", "audio.webm", "audio/webm"},
		{"m4a", "\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "", "audio.m4a", "audio/mp4"},
		{"flac", "fLaC\x00\x00\x00\x22", "", "audio.flac", "audio/flac"},
		{"unknown bytes, declared mp3", "\x00\x01\x02\x03", "audio/mpeg", "audio.mp3", "audio/mpeg"},
	}
	f := newFakeOpenAI(t)
	p := f.provider(OpenAIConfig{TranscribeModel: "whisper-test"})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Transcribe(context.Background(), Audio{Data: []byte(c.data), MIME: c.mime})
			if err != nil || got != "hola, quiero una pizza" {
				t.Fatalf("Transcribe = %q, %v", got, err)
			}
			file := f.files[i]
			if file.filename != c.wantFile || file.contentType != c.wantType || file.model != "whisper-test" || file.size != len(c.data) {
				t.Fatalf("upload = %+v, want file %s type %s model whisper-test", file, c.wantFile, c.wantType)
			}
		})
	}
}

func TestOpenAIRetriesThenSucceeds(t *testing.T) {
	f := newFakeOpenAI(t)
	f.failN, f.failStatus = 1, http.StatusTooManyRequests
	got, err := f.provider(OpenAIConfig{}).Complete(context.Background(), chatRequest())
	if err != nil || got != "Hello there!" {
		t.Fatalf("Complete = %q, %v", got, err)
	}
	if f.requests != 2 {
		t.Fatalf("requests = %d, want 2 (one 429, one retry)", f.requests)
	}
}

func TestOpenAIUpstreamError(t *testing.T) {
	f := newFakeOpenAI(t)
	f.failN, f.failStatus = -1, http.StatusInternalServerError
	p := f.provider(OpenAIConfig{})
	check := func(op string, err error) {
		t.Helper()
		var ue *UpstreamError
		if !errors.As(err, &ue) || ue.StatusCode != 500 || ue.Op != op {
			t.Fatalf("%s: error = %#v, want *UpstreamError with status 500", op, err)
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(fmt.Sprintf("%+v", err), testKey) {
			t.Fatalf("%s: the API key leaked: %v", op, err)
		}
		if !strings.Contains(err.Error(), "500") {
			t.Fatalf("%s: the status is missing: %v", op, err)
		}
	}
	_, err := p.Complete(context.Background(), chatRequest())
	check("chat", err)
	if f.requests != 1+DefaultOpenAIMaxRetries {
		t.Fatalf("requests = %d, want %d (bounded retries)", f.requests, 1+DefaultOpenAIMaxRetries)
	}
	_, err = p.Stream(context.Background(), chatRequest(), nil)
	check("chat stream", err)
	_, err = p.Transcribe(context.Background(), Audio{Data: []byte("OggS")})
	check("transcription", err)

	f.requests = 0
	_, err = f.provider(OpenAIConfig{MaxRetries: -1}).Complete(context.Background(), chatRequest())
	check("chat", err)
	if f.requests != 1 {
		t.Fatalf("MaxRetries -1: requests = %d, want 1", f.requests)
	}
}

func TestOpenAITimeoutAndCancel(t *testing.T) {
	f := newFakeOpenAI(t)
	f.delay = 2 * time.Second
	p := f.provider(OpenAIConfig{Timeout: 50 * time.Millisecond, MaxRetries: -1})
	_, err := p.Complete(context.Background(), chatRequest())
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.StatusCode != 0 || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("timeout: error = %v, want *UpstreamError without status", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = f.provider(OpenAIConfig{}).Stream(ctx, chatRequest(), nil)
	if !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
		t.Fatalf("cancel: error = %v, want context.Canceled (not an upstream error)", err)
	}
}

func TestOpenAIWithoutKeyIgnoresEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-environment")
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	p := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "llama3.2", HTTPClient: srv.Client()})
	if got, err := p.Complete(context.Background(), Request{Turns: []Turn{{Role: RoleUser, Text: "hi"}}}); err != nil || got != "ok" {
		t.Fatalf("Complete = %q, %v", got, err)
	}
	if a := auth.Load().(string); a != "" {
		t.Fatalf("Authorization = %q, want none (an Ollama-style server without a key)", a)
	}
}

// TestOpenAIRetryAfterIsSurfaced: a 429 or 503 whose Retry-After outlasts the
// SDK's own retries reaches the caller on the UpstreamError, in either form
// the header takes.
func TestOpenAIRetryAfterIsSurfaced(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		status     int
		header     string
		lo, hi     time.Duration
		wantHeader bool
	}{
		{http.StatusTooManyRequests, "7", 7 * time.Second, 7 * time.Second, true},
		{http.StatusServiceUnavailable, date, 85 * time.Second, 90 * time.Second, true},
		{http.StatusTooManyRequests, "", 0, 0, false},
		{http.StatusTooManyRequests, "soon", 0, 0, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.wantHeader {
				w.Header().Set("Retry-After", tc.header)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit"}}`)
		}))
		p := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: testKey, MaxRetries: -1})
		_, err := p.Complete(context.Background(), chatRequest())
		srv.Close()
		var ue *UpstreamError
		if !errors.As(err, &ue) || ue.StatusCode != tc.status {
			t.Fatalf("Retry-After %q: err = %v, want an UpstreamError with status %d", tc.header, err, tc.status)
		}
		if ue.RetryAfter < tc.lo || ue.RetryAfter > tc.hi {
			t.Errorf("Retry-After %q: RetryAfter = %v, want %v–%v", tc.header, ue.RetryAfter, tc.lo, tc.hi)
		}
	}
}
