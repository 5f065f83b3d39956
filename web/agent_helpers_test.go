package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
)

// Helpers of the EvaGPT dialect tests (API.md §4). Every name starts with
// "agent" so that other test files of the package cannot clash with them.

// agentPage is the body of GET /conversation.
type agentPage struct {
	Total         int         `json:"total"`
	CurrentPage   int         `json:"currentPage"`
	TotalPages    int         `json:"totalPages"`
	Cursor        *string     `json:"cursor"`
	Conversations []agentConv `json:"conversations"`
}

// agentConv is one item of GET /conversation.
type agentConv struct {
	ID          string         `json:"id"`
	BotID       string         `json:"botId"`
	BotName     string         `json:"botname"`
	Description string         `json:"description"`
	Channel     string         `json:"channel"`
	Survey      int            `json:"survey"`
	Meta        map[string]any `json:"meta"`
	CreatedAt   string         `json:"createdAt"`
	UpdatedAt   string         `json:"updatedAt"`
}

// agentMsg is one item of GET /conversation/message/{id}.
type agentMsg struct {
	ID          string  `json:"id"`
	Role        string  `json:"role"`
	Text        string  `json:"text"`
	MessageType string  `json:"messageType"`
	URL         *string `json:"url"`
	Feedback    *string `json:"feedback"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"createdAt"`
}

var (
	agentListKeys = []string{"conversations", "currentPage", "cursor", "total", "totalPages"}
	agentItemKeys = []string{"botId", "botname", "channel", "createdAt", "description", "id", "meta", "survey", "updatedAt"}
	agentMetaKeys = []string{"botname", "channel", "description", "id", "meta", "survey"}
	agentMsgKeys  = []string{"createdAt", "feedback", "id", "messageType", "role", "status", "text", "url"}
)

// agentKeys fails unless m has exactly these members.
func agentKeys(t *testing.T, what string, m obj, want ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	w := slices.Clone(want)
	sort.Strings(w)
	if !slices.Equal(got, w) {
		t.Fatalf("%s has members %v, want exactly %v", what, got, w)
	}
}

// agentJSON checks a 200/201 JSON answer (no envelope) and decodes it.
func agentJSON[T any](t *testing.T, r response, status int) T {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var v T
	r.JSON(t, &v)
	return v
}

// agentBot returns the id of the tenant's only bot (its default assistant).
func agentBot(t *testing.T, e *env) string {
	t.Helper()
	bots := agentJSON[[]obj](t, e.do(http.MethodGet, "/bot", nil), http.StatusOK)
	if len(bots) == 0 {
		t.Fatal("GET /bot lists no bot")
	}
	return str(t, bots[0], "id")
}

// agentCreate creates a conversation with bot (body nil: no body at all).
func agentCreate(t *testing.T, e *env, bot string, body any) string {
	t.Helper()
	m := agentJSON[obj](t, e.do(http.MethodPost, "/conversation/create/"+bot, body), http.StatusCreated)
	agentKeys(t, "create answer", m, "id")
	id := str(t, m, "id")
	if !uuidv7RE.MatchString(id) {
		t.Fatalf("created id %q is not a UUIDv7", id)
	}
	return id
}

// agentList GETs /conversation with the query q (as the key's tenant).
func agentList(t *testing.T, e *env, key string, q url.Values) agentPage {
	t.Helper()
	r := e.doKey(key, http.MethodGet, "/conversation?"+q.Encode(), nil)
	var raw obj
	agentJSON[json.RawMessage](t, r, http.StatusOK)
	r.JSON(t, &raw)
	agentKeys(t, "GET /conversation", raw, agentListKeys...)
	var p agentPage
	r.JSON(t, &p)
	if p.Conversations == nil {
		t.Fatalf("conversations is %s, want an array", r.Body)
	}
	return p
}

// agentIDs lists the ids of a page.
func agentIDs(p agentPage) []string {
	out := make([]string, len(p.Conversations))
	for i, c := range p.Conversations {
		out[i] = c.ID
	}
	return out
}

// agentSearch returns the sorted ids that GET /conversation finds for q.
func agentSearch(t *testing.T, e *env, q url.Values) []string {
	t.Helper()
	q.Set("limit", "100")
	p := agentList(t, e, e.key, q)
	if p.Total != len(p.Conversations) {
		t.Errorf("%v: total %d but %d conversations", q, p.Total, len(p.Conversations))
	}
	ids := agentIDs(p)
	sort.Strings(ids)
	return ids
}

// agentMessages GETs /conversation/message/{id}.
func agentMessages(t *testing.T, e *env, conv string) []agentMsg {
	t.Helper()
	r := e.do(http.MethodGet, "/conversation/message/"+conv, nil)
	for i, m := range agentJSON[[]obj](t, r, http.StatusOK) {
		agentKeys(t, "message "+strconv.Itoa(i), m, agentMsgKeys...)
	}
	var out []agentMsg
	r.JSON(t, &out)
	return out
}

// agentComplete sends text through POST /conversation/complete and returns
// the answer's id.
func agentComplete(t *testing.T, e *env, conv, text string) string {
	t.Helper()
	m := agentJSON[obj](t, e.do(http.MethodPost, "/conversation/complete/"+conv, obj{"text": text}), http.StatusOK)
	id, _ := m["id"].(string)
	if id == "" {
		t.Fatalf("complete answered %v, want an answer id", m)
	}
	return id
}

// agentEvent decodes the data of an SSE event.
func agentEvent(t *testing.T, ev sseEvent) obj {
	t.Helper()
	var m obj
	if err := json.Unmarshal(ev.Body, &m); err != nil {
		t.Fatalf("event %s data %s: %v", ev.Type, ev.Body, err)
	}
	return m
}

// agentOfConv keeps events of these types about one conversation.
func agentOfConv(conv string, types ...string) func(sseEvent) bool {
	keep := ofType(types...)
	return func(ev sseEvent) bool {
		if !keep(ev) {
			return false
		}
		var d struct {
			ConversationID string `json:"conversation_id"`
		}
		return json.Unmarshal(ev.Body, &d) == nil && d.ConversationID == conv
	}
}

// agentSlowProvider streams fixed tokens with a pause before each but the
// first, and records when it produced each and whether it saw its context
// cancelled.
type agentSlowProvider struct {
	tokens []string
	gap    time.Duration

	mu        sync.Mutex
	emitted   []time.Time
	cancelled chan struct{} // closed when Stream sees ctx.Done()
	once      sync.Once
}

var _ ai.Provider = (*agentSlowProvider)(nil)

func newAgentSlowProvider(gap time.Duration, tokens ...string) *agentSlowProvider {
	return &agentSlowProvider{tokens: tokens, gap: gap, cancelled: make(chan struct{})}
}

func (p *agentSlowProvider) answer() string { return strings.Join(p.tokens, "") }

func (p *agentSlowProvider) Complete(ctx context.Context, req ai.Request) (string, error) {
	return p.Stream(ctx, req, nil)
}

func (p *agentSlowProvider) Stream(ctx context.Context, _ ai.Request, onToken func(string) error) (string, error) {
	var out strings.Builder
	for i, tok := range p.tokens {
		if i > 0 {
			select {
			case <-ctx.Done():
				p.once.Do(func() { close(p.cancelled) })
				return out.String(), ctx.Err()
			case <-time.After(p.gap):
			}
		}
		p.mu.Lock()
		p.emitted = append(p.emitted, time.Now())
		p.mu.Unlock()
		if onToken != nil {
			if err := onToken(tok); err != nil {
				return out.String(), err
			}
		}
		out.WriteString(tok)
	}
	return out.String(), nil
}

func (p *agentSlowProvider) Transcribe(context.Context, ai.Audio) (string, error) {
	return "", ai.ErrNoTranscription
}

// emittedAt returns the times the tokens were produced.
func (p *agentSlowProvider) emittedAt() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.emitted)
}
