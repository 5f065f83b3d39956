package ai

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/parley-dev/parley/ai/queue"
	"github.com/parley-dev/parley/store"
)

// Live receives live-only events (typing); the stream broker implements it.
type Live interface{ PublishLive(ev store.Event) }

// Fetcher downloads a media URL through the SSRF guard, capped in size. The
// body's bytes count against the media memory budget until release is
// called (see netguard.FetchHeld); release is nil when err is not.
type Fetcher func(ctx context.Context, url string) (data []byte, contentType string, release func(), err error)

// PipelineConfig tunes the turn pipeline.
type PipelineConfig struct {
	MaxPDFPages int // pages of a PDF read into extracted_text
	MaxPDFChars int // characters kept of a PDF's text
	Logger      *slog.Logger
	// Queue admits provider calls (chat, streamed chat, transcription);
	// nil means a queue of DefaultConcurrency slots.
	Queue *queue.Queue
	// BatchRetryDelay is the least wait before a debounced batch whose
	// provider call failed is tried again (spread by up to half as much
	// again); zero means DefaultBatchRetryDelay.
	BatchRetryDelay time.Duration
}

// DefaultConcurrency is PARLEY_AI_CONCURRENCY's default: a hosted API serves
// this many at once within common rate limits, while a burst of turns no
// longer opens hundreds of connections at the same moment. A local model
// (Ollama, llama.cpp) serves 1–4 and wants a smaller cap.
const DefaultConcurrency = 32

// Pipeline runs AI turns: it stores the lead's message, turns media into
// text, decides whether to answer, asks the provider and stores the answer,
// with typing events around the provider call. Turns of one conversation
// thread never overlap (a keyed mutex); different threads run in parallel.
type Pipeline struct {
	st       *store.Store
	provider Provider
	live     Live
	fetch    Fetcher
	cfg      PipelineConfig
	log      *slog.Logger
	threads  keyedMutex
	flight   singleflight.Group
	queue    *queue.Queue
	deb      *debouncer // set by StartDebounce
}

// NewPipeline builds a pipeline.
func NewPipeline(st *store.Store, provider Provider, live Live, fetch Fetcher, cfg PipelineConfig) *Pipeline {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = queue.New(DefaultConcurrency)
	}
	if cfg.BatchRetryDelay <= 0 {
		cfg.BatchRetryDelay = DefaultBatchRetryDelay
	}
	return &Pipeline{st: st, provider: provider, live: live, fetch: fetch, cfg: cfg, log: cfg.Logger, queue: cfg.Queue}
}

// slot waits in the provider queue for the tenant's turn. Provider timeouts
// start inside the call, after this returns, so time in line never counts
// against them; a ctx that ends (a client gone, a shutdown) leaves the line.
// Callers release as soon as the call returns, and defer a release too: a
// provider that panics must not keep the slot (a second release does nothing).
func (p *Pipeline) slot(ctx context.Context, ten *store.Tenant) (release func(), err error) {
	return p.queue.Acquire(ctx, ten.ID())
}

// Inbound is a message arriving through POST /ai/process.
type Inbound struct {
	LeadID, ChannelID, Role, Content, MessageType, URL string
	ExternalID                                         string // the gateway's message id
	IdempotencyKey                                     string // the Idempotency-Key header
}

// key is the request's idempotency key: the gateway's message id first.
func (in Inbound) key() string {
	switch {
	case in.ExternalID != "":
		return "ext:" + in.ExternalID
	case in.IdempotencyKey != "":
		return "hdr:" + in.IdempotencyKey
	}
	return ""
}

// Why no answer was produced.
const (
	SkippedAIPaused   = "ai_paused"
	SkippedRoleNotAns = "role_not_answered"
)

// Result is the body of a synchronous POST /ai/process answer.
type Result struct {
	Success           bool    `json:"success"`
	Response          *string `json:"response"`
	ConversationID    string  `json:"conversation_id"`
	LeadID            string  `json:"lead_id"`
	MessageID         string  `json:"message_id"`
	ResponseMessageID *string `json:"response_message_id"`
	Skipped           string  `json:"skipped,omitempty"`
}

// Process handles one inbound message synchronously. A request with an
// idempotency key that was seen in the last 24 h gets the first answer again;
// a duplicate arriving while the first is in flight waits for it.
func (p *Pipeline) Process(ctx context.Context, ten *store.Tenant, in Inbound) (Result, error) {
	key := in.key()
	if key == "" {
		return p.process(ctx, ten, in, "", "")
	}
	v, err, _ := p.flight.Do(ten.ID()+"\x00"+key, func() (any, error) {
		// Shared by every waiting duplicate: the first caller leaving must not cancel it.
		return p.processKeyed(context.WithoutCancel(ctx), ten, in, key)
	})
	if err != nil {
		return Result{}, err
	}
	return asResult(v, in.LeadID), nil
}

// asResult is the answer shared by a flight of duplicates as a sync Result.
// Sync and debounced requests share one flight per key, so a sync duplicate
// of a debounced request in flight receives its Queued: it gets the same
// message back, unanswered.
func asResult(v any, leadID string) Result {
	switch r := v.(type) {
	case Result:
		return r
	case Queued:
		return Result{Success: r.Success, ConversationID: r.ConversationID, LeadID: leadID, MessageID: r.MessageID, Skipped: r.Skipped}
	}
	panic(fmt.Sprintf("ai: unexpected shared result %T", v))
}

// asQueued is asResult for a debounced duplicate of a sync request in flight.
func asQueued(v any) Queued {
	switch r := v.(type) {
	case Queued:
		return r
	case Result:
		return Queued{Success: r.Success, ConversationID: r.ConversationID, MessageID: r.MessageID, Skipped: r.Skipped}
	}
	panic(fmt.Sprintf("ai: unexpected shared result %T", v))
}

func (p *Pipeline) processKeyed(ctx context.Context, ten *store.Tenant, in Inbound, key string) (Result, error) {
	rec, found, err := ten.Idempotent(ctx, key)
	if err != nil {
		return Result{}, err
	}
	if found && rec.StatusCode != 0 {
		var res Result
		if err := json.Unmarshal(rec.Response, &res); err != nil {
			return Result{}, fmt.Errorf("ai: decode remembered response: %w", err)
		}
		if res.LeadID == "" { // remembered from a debounced request (its body has no lead_id)
			m, err := ten.Message(ctx, rec.MessageID)
			if err != nil {
				return Result{}, err
			}
			res.LeadID = m.LeadID
		}
		return res, nil
	}
	// Seen but unfinished (an error, or a crash mid-turn): finish it without
	// storing the message again.
	return p.process(ctx, ten, in, key, rec.MessageID)
}

// process stores (or reloads) the message, then answers it when due.
func (p *Pipeline) process(ctx context.Context, ten *store.Tenant, in Inbound, key, existingID string) (Result, error) {
	unlock := p.threads.Lock(ten.ID() + "|" + in.LeadID + "|" + in.ChannelID)
	defer unlock()

	var msg store.Message
	var conv store.Conversation
	if existingID != "" {
		var err error
		if msg, err = ten.Message(ctx, existingID); err != nil {
			return Result{}, err
		}
		if conv, err = ten.Conversation(ctx, msg.ConversationID); err != nil {
			return Result{}, err
		}
	} else {
		mi := store.MessageInput{LeadID: in.LeadID, ChannelID: in.ChannelID, CreateLead: true,
			Role: in.Role, Content: in.Content, MessageType: in.MessageType, URL: in.URL, Status: inboundStatus(in.Role),
			ExternalID: in.ExternalID}
		err := ten.Write(ctx, mi.About(), func(tx *store.Tx) error {
			st, err := tx.AddMessage(mi)
			if err != nil {
				return err
			}
			msg, conv = st.Message, st.Conversation
			if key == "" {
				return nil
			}
			return tx.RememberKey(key, st.Message.ID)
		})
		if err != nil {
			return Result{}, err
		}
	}
	res := Result{Success: true, ConversationID: conv.ID, LeadID: conv.LeadID, MessageID: msg.ID}
	images, release, err := p.understand(ctx, ten, &msg)
	if err != nil {
		return res, err
	}
	defer release() // the image bytes stay until the answer is in
	switch {
	case msg.Role != store.RoleUser:
		res.Skipped = SkippedRoleNotAns
	case !conv.IsAIActive:
		res.Skipped = SkippedAIPaused
	default:
		// The answer and the request's idempotency record are stored in one
		// transaction: a retry after a crash finds the answer, never asks
		// the AI twice.
		var finish *finishing
		if key != "" {
			finish = &finishing{key: key, body: func(answer store.Message) []byte {
				r := res
				r.Response, r.ResponseMessageID = &answer.Content, &answer.ID
				body, _ := json.Marshal(r)
				return body
			}}
		}
		answer, err := p.answer(ctx, ten, conv, []store.Message{msg}, map[string][]Image{msg.ID: images}, finish)
		if err != nil {
			return res, err
		}
		res.Response, res.ResponseMessageID = &answer.Content, &answer.ID
		return res, nil
	}
	if key != "" {
		body, _ := json.Marshal(res)
		if err := ten.FinishIdempotent(ctx, key, 200, body); err != nil {
			return res, err
		}
	}
	return res, nil
}

// inboundStatus is a message's status at creation (API.md §3.4).
func inboundStatus(role string) string {
	if role == store.RoleUser {
		return store.MsgDelivered
	}
	return store.MsgSent
}

// Answer runs one AI turn over batch (the messages being answered, oldest
// first) and stores the answer; typing brackets the provider call and the
// store write.
func (p *Pipeline) Answer(ctx context.Context, ten *store.Tenant, conv store.Conversation, batch []store.Message, images map[string][]Image) (store.Message, error) {
	return p.answer(ctx, ten, conv, batch, images, nil)
}

// finishing is the keyed request an answer completes: its 200 and body,
// built from the stored answer, commit with the answer.
type finishing struct {
	key  string
	body func(answer store.Message) []byte
}

func (p *Pipeline) answer(ctx context.Context, ten *store.Tenant, conv store.Conversation, batch []store.Message, images map[string][]Image, finish *finishing) (store.Message, error) {
	req, err := p.Request(ctx, ten, conv, batch, images)
	if err != nil {
		return store.Message{}, err
	}
	release, err := p.slot(ctx, ten)
	if err != nil {
		return store.Message{}, err
	}
	defer release()
	p.Typing(ten, conv, true)
	defer p.Typing(ten, conv, false)
	text, err := p.provider.Complete(ctx, req)
	release()
	if err != nil {
		return store.Message{}, err
	}
	mi := store.MessageInput{ConversationID: conv.ID, LeadID: conv.LeadID,
		Role: store.RoleAssistant, Content: text, MessageType: "text", Status: store.MsgSent, FromAI: true}
	var answer store.Message
	err = ten.Write(ctx, mi.About(), func(tx *store.Tx) error {
		st, err := tx.AddMessage(mi)
		if err != nil {
			return err
		}
		answer = st.Message
		if finish == nil {
			return nil
		}
		return tx.FinishKey(finish.key, 200, finish.body(answer))
	})
	return answer, err
}

// Stream is Answer with tokens: onToken sees each token as the provider makes
// it. If the client goes away (ctx or onToken fails) the partial answer is
// stored with status failed.
func (p *Pipeline) Stream(ctx context.Context, ten *store.Tenant, conv store.Conversation, batch []store.Message, onToken func(string) error) (store.Message, error) {
	req, err := p.Request(ctx, ten, conv, batch, nil)
	if err != nil {
		return store.Message{}, err
	}
	release, err := p.slot(ctx, ten)
	if err != nil {
		return store.Message{}, err
	}
	defer release()
	p.Typing(ten, conv, true)
	defer p.Typing(ten, conv, false)
	text, streamErr := p.provider.Stream(ctx, req, onToken)
	release()
	status := store.MsgSent
	if streamErr != nil {
		if text == "" {
			return store.Message{}, streamErr
		}
		status = store.MsgFailed
	}
	st, err := ten.AddMessage(context.WithoutCancel(ctx), store.MessageInput{ConversationID: conv.ID, LeadID: conv.LeadID,
		Role: store.RoleAssistant, Content: text, MessageType: "text", Status: status, FromAI: true})
	if streamErr != nil {
		return st.Message, streamErr
	}
	return st.Message, err
}

// Request builds the provider request: the assistant's prompt and settings,
// and the conversation's last history_limit messages (never fewer than the
// batch).
func (p *Pipeline) Request(ctx context.Context, ten *store.Tenant, conv store.Conversation, batch []store.Message, images map[string][]Image) (Request, error) {
	asst, err := ten.Assistant(ctx, conv.AssistantID)
	if err != nil {
		return Request{}, err
	}
	history, err := ten.History(ctx, conv.ID, max(asst.HistoryLimit, len(batch)))
	if err != nil {
		return Request{}, err
	}
	turns := make([]Turn, 0, len(history))
	for _, m := range history {
		turns = append(turns, Turn{Role: turnRole(m.Role), Text: MessageText(m), Images: images[m.ID]})
	}
	var user []string
	for _, m := range batch {
		if m.Role == store.RoleUser {
			user = append(user, MessageText(m))
		}
	}
	return Request{SystemPrompt: asst.SystemPrompt, Model: asst.Model, Temperature: asst.Temperature, Turns: turns,
		UserText: strings.Join(user, "\n")}, nil
}

// turnRole maps message roles to model roles: an operator (human) speaks for
// the business, as the assistant does.
func turnRole(role string) string {
	switch role {
	case store.RoleUser:
		return RoleUser
	case store.RoleSystem:
		return RoleSystem
	}
	return RoleAssistant
}

// MessageText is a message as the model reads it: its text, and for media the
// caption and the extracted text.
func MessageText(m store.Message) string {
	if m.MessageType == "text" {
		return m.Content
	}
	var parts []string
	if m.Content != "" {
		parts = append(parts, m.Content)
	}
	if m.ExtractedText != nil && *m.ExtractedText != "" {
		parts = append(parts, *m.ExtractedText)
	}
	if len(parts) == 0 {
		return "[" + m.MessageType + "]"
	}
	return strings.Join(parts, "\n")
}

// Typing publishes the AI's typing indicator for a conversation.
func (p *Pipeline) Typing(ten *store.Tenant, conv store.Conversation, on bool) {
	if p.live != nil {
		p.live.PublishLive(store.TypingEvent(ten.ID(), conv, on, store.RoleAssistant))
	}
}

// ChatResult is what Chat did: the stored user message and, unless the AI is
// paused on the conversation, the stored answer.
type ChatResult struct {
	User     store.Message
	Answer   store.Message
	Answered bool
}

// Chat stores a lead's text in an existing conversation and answers it (the
// agent-conversation dialect). With onToken the answer is streamed; a client
// that goes away leaves the partial answer stored as failed.
func (p *Pipeline) Chat(ctx context.Context, ten *store.Tenant, conversationID, text string, onToken func(string) error) (ChatResult, error) {
	conv, err := ten.Conversation(ctx, conversationID)
	if err != nil {
		return ChatResult{}, err
	}
	unlock := p.threads.Lock(ten.ID() + "|" + conv.LeadID + "|" + deref(conv.ChannelID))
	defer unlock()
	st, err := ten.AddMessage(ctx, store.MessageInput{ConversationID: conv.ID, LeadID: conv.LeadID, Role: store.RoleUser,
		Content: text, MessageType: "text", Status: store.MsgDelivered})
	if err != nil {
		return ChatResult{}, err
	}
	res := ChatResult{User: st.Message}
	if !st.Conversation.IsAIActive {
		return res, nil
	}
	batch := []store.Message{st.Message}
	if onToken != nil {
		res.Answer, err = p.Stream(ctx, ten, st.Conversation, batch, onToken)
	} else {
		res.Answer, err = p.Answer(ctx, ten, st.Conversation, batch, nil)
	}
	res.Answered = err == nil
	return res, err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
