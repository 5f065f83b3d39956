package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// agentStreamPost opens POST /conversation/stream/{conv}; sse asks for
// text/event-stream. It fails unless the answer is a 200.
func agentStreamPost(t *testing.T, e *env, ctx context.Context, conv, text string, sse bool) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/conversation/stream/"+conv,
		strings.NewReader(mustJSON(t, obj{"text": text})))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	if sse {
		req.Header.Set("Accept", "text/event-stream")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("stream: status %d, body %s", res.StatusCode, b)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// agentWantNewMessage waits for the new_message of conv and checks it.
func agentWantNewMessage(t *testing.T, sse *sseClient, conv, role, content, id string) {
	t.Helper()
	ev := sse.Next(5*time.Second, agentOfConv(conv, "new_message"))
	var d struct {
		Message struct {
			ID, Content, Role, Status string
		} `json:"message"`
	}
	if err := json.Unmarshal(ev.Body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Message.Role != role || d.Message.Content != content || (id != "" && d.Message.ID != id) || ev.ID == "" {
		t.Errorf("new_message = %s (event id %q), want %s %q id %s", ev.Body, ev.ID, role, content, id)
	}
}

// TestAgentStreamText: tokens reach the client as the provider makes them,
// in several chunks, as text/plain; they add up to the stored answer, and
// both messages are announced as new_message.
func TestAgentStreamText(t *testing.T) {
	p := newAgentSlowProvider(80*time.Millisecond, "Olá ", "from ", "the ", "slow ", "fake")
	e := newEnvWith(t, envOpts{Provider: p})
	conv := agentCreate(t, e, agentBot(t, e), nil)
	events := e.openStream("/backend/conversations/stream", nil)

	res := agentStreamPost(t, e, context.Background(), conv, "tell me", false)
	if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", ct)
	}
	var body []byte
	var firstAt time.Time
	chunks := 0
	buf := make([]byte, 64) // larger than the whole answer: each read is what has arrived
	for {
		n, err := res.Body.Read(buf)
		if n > 0 {
			if chunks == 0 {
				firstAt = time.Now()
			}
			chunks++
			body = append(body, buf[:n]...)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	emitted := p.emittedAt()
	if len(emitted) != 5 {
		t.Fatalf("provider produced %d tokens, want 5", len(emitted))
	}
	if !firstAt.Before(emitted[4]) {
		t.Errorf("first chunk read at %v, after the provider produced the last token at %v: not streamed",
			firstAt.Format(time.StampMicro), emitted[4].Format(time.StampMicro))
	}
	if chunks < 2 {
		t.Errorf("the answer arrived in %d chunk(s), want several", chunks)
	}
	if string(body) != p.answer() {
		t.Errorf("streamed %q, want %q", body, p.answer())
	}
	msgs := agentMessages(t, e, conv)
	if len(msgs) != 2 || msgs[0].Text != "tell me" || msgs[1].Role != "assistant" || msgs[1].Text != string(body) ||
		msgs[1].Status != "sent" {
		t.Fatalf("stored messages = %+v, want the question and the streamed answer", msgs)
	}
	agentWantNewMessage(t, events, conv, "user", "tell me", msgs[0].ID)
	agentWantNewMessage(t, events, conv, "assistant", p.answer(), msgs[1].ID)
}

// TestAgentStreamSSE: with Accept: text/event-stream the tokens come as
// data: {"token"} frames, then {"done":true,"id":<the stored answer's id>}.
func TestAgentStreamSSE(t *testing.T) {
	p := newAgentSlowProvider(10*time.Millisecond, "one ", "two ", "\"three\"\n", "four")
	e := newEnvWith(t, envOpts{Provider: p})
	conv := agentCreate(t, e, agentBot(t, e), nil)

	res := agentStreamPost(t, e, context.Background(), conv, "count", true)
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(raw), "\n\n") {
		t.Fatalf("stream %q does not end with a complete frame", raw)
	}
	frames := strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n")
	if len(frames) != len(p.tokens)+1 {
		t.Fatalf("%d frames, want %d tokens and done: %q", len(frames), len(p.tokens), raw)
	}
	var text strings.Builder
	var last obj
	for i, f := range frames {
		data, ok := strings.CutPrefix(f, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("frame %d = %q, want one data: line", i, f)
		}
		var m obj
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i == len(frames)-1 {
			last = m
			break
		}
		agentKeys(t, "token frame", m, "token")
		if m["token"] != p.tokens[i] {
			t.Errorf("frame %d token %q, want %q", i, m["token"], p.tokens[i])
		}
		text.WriteString(str(t, m, "token"))
	}
	msgs := agentMessages(t, e, conv)
	if len(msgs) != 2 || msgs[1].Text != text.String() || msgs[1].Status != "sent" {
		t.Fatalf("stored %+v, streamed %q", msgs, text.String())
	}
	agentKeys(t, "final frame", last, "done", "id")
	if last["done"] != true || last["id"] != msgs[1].ID {
		t.Errorf("final frame = %v, want done and id %s", last, msgs[1].ID)
	}
}

// TestAgentStreamDisconnect: a client leaving after the first token cancels
// the provider's context, and the partial answer is stored as failed.
func TestAgentStreamDisconnect(t *testing.T) {
	p := newAgentSlowProvider(80*time.Millisecond, "one ", "two ", "three ", "four ", "five")
	e := newEnvWith(t, envOpts{Provider: p})
	conv := agentCreate(t, e, agentBot(t, e), nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := agentStreamPost(t, e, ctx, conv, "go", false)
	buf := make([]byte, 64)
	n, err := res.Body.Read(buf)
	if n == 0 || string(buf[:n]) != "one " {
		t.Fatalf("first read = %q, %v; want the first token", buf[:n], err)
	}
	cancel()
	res.Body.Close()

	select {
	case <-p.cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the provider's context was not cancelled after the client left")
	}
	var answer agentMsg
	eventually(t, 2*time.Second, "the partial answer stored as failed", func() bool {
		msgs := agentMessages(t, e, conv)
		if len(msgs) == 2 {
			answer = msgs[1]
		}
		return len(msgs) == 2 && msgs[1].Status == "failed"
	})
	if answer.Role != "assistant" || !strings.HasPrefix(answer.Text, "one ") || answer.Text == p.answer() ||
		!strings.HasPrefix(p.answer(), answer.Text) {
		t.Errorf("partial answer = %+v, want a strict prefix of %q starting with the first token", answer, p.answer())
	}
	if got := len(p.emittedAt()); got == len(p.tokens) {
		t.Errorf("the provider produced all %d tokens although the client had left", got)
	}
}

// TestAgentCompleteEvents: the question and the answer of
// POST /conversation/complete are new_message events of the tenant stream.
func TestAgentCompleteEvents(t *testing.T) {
	e := newEnv(t)
	conv := agentCreate(t, e, agentBot(t, e), nil)
	events := e.openStream("/backend/conversations/stream", nil)
	answer := agentComplete(t, e, conv, "ping")
	agentWantNewMessage(t, events, conv, "user", "ping", "")
	agentWantNewMessage(t, events, conv, "assistant", "You said: ping", answer)
}
