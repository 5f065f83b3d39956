package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/parley-dev/parley/ai"
)

// procOpenAI is an httptest fake of the OpenAI chat completions API: status
// decides each answer by request number (1-based), and it records every
// request body.
type procOpenAI struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	auth   []string
	status func(n int) int
	answer string
	// the last audio file uploaded for transcription
	upload     []byte
	uploadName string
}

func newProcOpenAI(t *testing.T, answer string, status func(n int) int) *procOpenAI {
	t.Helper()
	f := &procOpenAI{status: status, answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		n := len(f.bodies)
		f.mu.Unlock()
		if r.URL.Path == "/v1/audio/transcriptions" {
			f.transcription(w, r, body)
			return
		}
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After-Ms", "1") // keep the SDK's retries fast
		if code := f.status(n); code != http.StatusOK {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":{"message":"fake failure %d","type":"server_error"}}`, code)
			return
		}
		a, _ := json.Marshal(f.answer)
		fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":1,"model":"m",
"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}]}`, n, a)
	}))
	t.Cleanup(f.Close)
	return f
}

// transcription answers the audio endpoint, recording the uploaded file.
func (f *procOpenAI) transcription(w http.ResponseWriter, r *http.Request, body []byte) {
	mr := multipart.NewReader(bytes.NewReader(body), procBoundary(r.Header.Get("Content-Type")))
	for {
		part, err := mr.NextPart()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(part)
		if part.FormName() == "file" {
			f.mu.Lock()
			f.upload, f.uploadName = data, part.FileName()
			f.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"text":"  preciso de ajuda com o pedido  "}`)
}

func procBoundary(ct string) string {
	_, params, _ := mime.ParseMediaType(ct)
	return params["boundary"]
}

// Requests is the number of requests received.
func (f *procOpenAI) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

type procChatMessage struct{ Role, Text string }

// Messages decodes the chat messages of request i (0-based), flattening
// array contents to their text parts.
func (f *procOpenAI) Messages(t *testing.T, i int) (model string, msgs []procChatMessage) {
	t.Helper()
	f.mu.Lock()
	body := f.bodies[i]
	f.mu.Unlock()
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	for _, m := range req.Messages {
		var text string
		if json.Unmarshal(m.Content, &text) != nil {
			var parts []struct{ Type, Text string }
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				t.Fatalf("content %s: %v", m.Content, err)
			}
			for _, p := range parts {
				text += p.Text
			}
		}
		msgs = append(msgs, procChatMessage{m.Role, text})
	}
	return req.Model, msgs
}

func procOpenAIEnv(t *testing.T, f *procOpenAI) *env {
	t.Helper()
	p := ai.NewOpenAI(ai.OpenAIConfig{BaseURL: f.URL + "/v1", APIKey: "sk-proc-secret-key", Model: "fake-model", MaxRetries: 2})
	return newEnvWith(t, envOpts{Provider: p})
}

// TestProcessOpenAIFailure: an OpenAI-compatible API failing every time (after
// the SDK's retries) is 502 UPSTREAM_ERROR without the key, and the lead's
// message is still stored.
func TestProcessOpenAIFailure(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newProcOpenAI(t, "never", func(int) int { return code })
			e := procOpenAIEnv(t, f)
			r := e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-oa", "are you there?"))
			p := wantProblem(t, r, http.StatusBadGateway, "UPSTREAM_ERROR")
			if strings.Contains(string(r.Body), "sk-proc-secret-key") {
				t.Errorf("the problem leaks the API key: %s", r.Body)
			}
			if !strings.Contains(p.Detail, fmt.Sprint(code)) {
				t.Errorf("detail %q does not give the upstream status", p.Detail)
			}
			// 500 is retried twice (MaxRetries 2); 401 is not retried.
			want := 3
			if code == http.StatusUnauthorized {
				want = 1
			}
			if f.Requests() != want {
				t.Errorf("fake received %d requests, want %d", f.Requests(), want)
			}
			msgs := procLeadMessages(t, e, "lead-oa")
			if len(msgs) != 1 || msgs[0]["role"] != "user" || msgs[0]["content"] != "are you there?" || msgs[0]["status"] != "delivered" {
				t.Errorf("stored messages = %v, want the lead's message only", msgs)
			}
		})
	}
}

// TestProcessOpenAIRetryAndPrompt: a 429 then a 200 is one answered turn (two
// requests); the API receives the assistant's system prompt first, then the
// history in order, the newest user text last.
func TestProcessOpenAIRetryAndPrompt(t *testing.T) {
	f := newProcOpenAI(t, "Olá! Posso ajudar.", func(n int) int {
		if n == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	e := procOpenAIEnv(t, f)
	list := wantData[[]obj](t, e.do(http.MethodGet, "/backend/assistants", nil), http.StatusOK).Data
	const prompt = "Você é o atendente da Padaria Central. Seja breve."
	wantData[obj](t, e.do(http.MethodPut, "/backend/assistants/"+str(t, list[0], "id"), obj{"system_prompt": prompt}), http.StatusOK)

	first := procProcess(t, e, procMsg(e, "lead-oa", "Bom dia"))
	if first.Response == nil || *first.Response != "Olá! Posso ajudar." {
		t.Fatalf("first answer = %+v", first)
	}
	if f.Requests() != 2 {
		t.Fatalf("fake received %d requests, want 2 (429 then 200)", f.Requests())
	}
	procProcess(t, e, procMsg(e, "lead-oa", "an operator note", obj{"role": "system"}))
	second := procProcess(t, e, procMsg(e, "lead-oa", "Quanto custa o pão?"))
	if second.Response == nil || f.Requests() != 3 {
		t.Fatalf("second answer = %+v after %d requests", second, f.Requests())
	}

	model, msgs := f.Messages(t, 2)
	want := []procChatMessage{
		{"system", prompt},
		{"user", "Bom dia"},
		{"assistant", "Olá! Posso ajudar."},
		{"system", "an operator note"},
		{"user", "Quanto custa o pão?"},
	}
	if model != "fake-model" {
		t.Errorf("model = %q, want the configured fake-model", model)
	}
	if fmt.Sprint(msgs) != fmt.Sprint(want) {
		t.Errorf("messages sent = %+v\nwant %+v", msgs, want)
	}
	if _, msgs := f.Messages(t, 1); len(msgs) != 2 || msgs[0] != want[0] || msgs[1] != want[1] {
		t.Errorf("first turn sent %+v", msgs)
	}
	f.mu.Lock()
	auth := f.auth[0]
	f.mu.Unlock()
	if auth != "Bearer sk-proc-secret-key" {
		t.Errorf("Authorization = %q", auth)
	}
}

// TestProcessOpenAIMedia: with the OpenAI provider an image reaches the chat
// API as a data URL next to its caption, and a voice note is uploaded for
// transcription as audio.ogg, its transcript stored and sent as the user text.
func TestProcessOpenAIMedia(t *testing.T) {
	f := newProcOpenAI(t, "Entendido.", func(int) int { return http.StatusOK })
	pic := procPNG(t, 4, 3)
	media := newProcMedia(t, map[string]procFile{
		"/pic.png":   {contentType: "image/png", body: pic},
		"/voice.oga": {contentType: "application/octet-stream", body: procOgg},
	})
	e := procOpenAIEnv(t, f)

	procProcess(t, e, procMsg(e, "lead-img", "olha isto", obj{"message_type": "image", "url": media.URL + "/pic.png"}))
	f.mu.Lock()
	body := f.bodies[len(f.bodies)-1]
	f.mu.Unlock()
	var req struct {
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Type     string `json:"type"`
				Text     string `json:"text"`
				ImageURL struct {
					URL string `json:"url"`
				} `json:"image_url"`
			} `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		t.Fatalf("chat request %s: %v", body, err)
	}
	last := req.Messages[len(req.Messages)-1]
	wantURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pic)
	var text, img bool
	for _, part := range last.Content {
		text = text || part.Type == "text" && strings.Contains(part.Text, "olha isto") && strings.Contains(part.Text, "4x3")
		img = img || part.Type == "image_url" && part.ImageURL.URL == wantURL
	}
	if last.Role != "user" || !text || !img {
		t.Errorf("last chat message = %+v, want the caption with the description and the PNG as a data URL", last)
	}

	res := procProcess(t, e, procMsg(e, "lead-voice", "", obj{"message_type": "audio", "url": media.URL + "/voice.oga"}))
	f.mu.Lock()
	upload, name := f.upload, f.uploadName
	f.mu.Unlock()
	if name != "audio.ogg" || !bytes.Equal(upload, procOgg) {
		t.Errorf("transcription upload = %q (%d bytes), want audio.ogg with the voice note", name, len(upload))
	}
	if _, got := procExtracted(t, e, "lead-voice"); got != "preciso de ajuda com o pedido" {
		t.Errorf("extracted_text = %q, want the trimmed transcript", got)
	}
	_, msgs := f.Messages(t, f.Requests()-1)
	if msgs[len(msgs)-1] != (procChatMessage{"user", "preciso de ajuda com o pedido"}) || res.Response == nil {
		t.Errorf("chat messages after the voice note = %+v", msgs)
	}
}
