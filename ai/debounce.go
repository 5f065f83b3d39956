package ai

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/parley-dev/parley/store"
)

// Scheduler fires a key when its deadline comes (package debounce).
type Scheduler interface {
	Schedule(key string, deadline time.Time)
	Cancel(key string) bool
}

// How long a batch waits before it is tried again after a failure: the
// answer is owed, so the batch stays. Every wait is spread by up to half as
// much again, so that batches that failed together (a provider outage, a
// 429 to all of them) do not come back together.
const (
	// DefaultBatchRetryDelay follows a failed provider call; a longer
	// Retry-After from the provider wins, up to maxRetryAfter.
	DefaultBatchRetryDelay = 30 * time.Second
	storeRetryDelay        = 2 * time.Second // a transient store failure (disk full, busy)
	// maxRetryAfter bounds the Retry-After honoured: a provider asking for
	// hours would leave owed answers parked past any use.
	maxRetryAfter = time.Hour
)

// ErrNoDebounce is returned by Enqueue on a pipeline whose debounce was
// never started (StartDebounce): it cannot promise a postback.
var ErrNoDebounce = errors.New("ai: debounce is not running")

// Queued is the body of a debounced POST /ai/process answer (202).
type Queued struct {
	Success        bool        `json:"success"`
	Queued         bool        `json:"queued"`
	ConversationID string      `json:"conversation_id"`
	MessageID      string      `json:"message_id"`
	DeliverAfter   *store.Time `json:"deliver_after,omitempty"`
	Skipped        string      `json:"skipped,omitempty"`
}

// debouncer is the pipeline's half that runs batches. It does not bound
// how many batches compose at once: their provider calls wait in the
// pipeline's queue, which is fair between tenants, and a bound in front of
// it would line batches up first come, first served across tenants.
type debouncer struct {
	sched Scheduler
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

// StartDebounce attaches the scheduler that fires batches and reloads every
// pending batch from the store (overdue ones fire at once). Fire must be the
// scheduler's due callback.
func (p *Pipeline) StartDebounce(ctx context.Context, sched Scheduler) error {
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.deb = &debouncer{sched: sched, ctx: dctx, stop: stop}
	batches, err := p.st.PendingBatches(ctx)
	if err != nil {
		return err
	}
	for _, b := range batches {
		sched.Schedule(batchKey(b.TenantID, b.ConversationID), b.Deadline.Std())
	}
	return nil
}

// StopDebounce cancels composing batches (they stay pending in the store and
// fire after the next start) and waits for their goroutines.
func (p *Pipeline) StopDebounce() {
	if p.deb == nil {
		return
	}
	p.deb.stop()
	p.deb.wg.Wait()
}

func batchKey(tenant, conversation string) string { return tenant + "\x00" + conversation }

// Enqueue stores a debounced message and arms its conversation's batch.
func (p *Pipeline) Enqueue(ctx context.Context, ten *store.Tenant, in Inbound, postbackURL string) (Queued, error) {
	key := in.key()
	if key == "" {
		return p.enqueue(ctx, ten, in, postbackURL, "")
	}
	v, err, _ := p.flight.Do(ten.ID()+"\x00"+key, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		rec, found, err := ten.Idempotent(ctx, key)
		if err != nil {
			return Queued{}, err
		}
		if found && rec.StatusCode != 0 {
			var q Queued
			err := json.Unmarshal(rec.Response, &q)
			return q, err
		}
		if found { // stored before a crash: answer from what is there
			return p.queuedFor(ctx, ten, key, rec.MessageID)
		}
		return p.enqueue(ctx, ten, in, postbackURL, key)
	})
	if err != nil {
		return Queued{}, err
	}
	return asQueued(v), nil // a sync request in flight may have shared its Result
}

func (p *Pipeline) enqueue(ctx context.Context, ten *store.Tenant, in Inbound, postbackURL, key string) (Queued, error) {
	if p.deb == nil {
		return Queued{}, ErrNoDebounce
	}
	mi := store.MessageInput{LeadID: in.LeadID, ChannelID: in.ChannelID, CreateLead: true, Role: in.Role,
		Content: in.Content, MessageType: in.MessageType, URL: in.URL, Status: inboundStatus(in.Role),
		ExternalID: in.ExternalID}
	// The message, its key, its batch and the 202 a retry will replay are
	// one transaction: a crash keeps all of them or none.
	var q Queued
	err := ten.Write(ctx, mi.About(), func(tx *store.Tx) error {
		st, err := tx.AddMessage(mi)
		if err != nil {
			return err
		}
		if key != "" {
			if err := tx.RememberKey(key, st.Message.ID); err != nil {
				return err
			}
		}
		q = Queued{Success: true, ConversationID: st.Conversation.ID, MessageID: st.Message.ID}
		switch {
		case in.Role != store.RoleUser:
			q.Skipped = SkippedRoleNotAns
		case !st.Conversation.IsAIActive:
			// Paused: the message is kept and shown, but no answer is
			// owed, not even to the messages batched before the pause.
			if err := tx.DropBatch(st.Conversation.ID); err != nil {
				return err
			}
			q.Skipped = SkippedAIPaused
		default:
			b, err := tx.AddToBatch(st, store.BatchInput{PostbackURL: postbackURL})
			if err != nil {
				return err
			}
			q.Queued, q.DeliverAfter = true, &b.Deadline
		}
		if key == "" {
			return nil
		}
		body, _ := json.Marshal(q)
		return tx.FinishKey(key, 202, body)
	})
	if err != nil {
		return Queued{}, err
	}
	if q.Queued {
		p.deb.sched.Schedule(batchKey(ten.ID(), q.ConversationID), q.DeliverAfter.Std())
	}
	return q, nil
}

// queuedFor rebuilds the answer of a keyed request whose message was stored
// but whose response was not (a crash in between).
func (p *Pipeline) queuedFor(ctx context.Context, ten *store.Tenant, key, messageID string) (Queued, error) {
	m, err := ten.Message(ctx, messageID)
	if err != nil {
		return Queued{}, err
	}
	q := Queued{Success: true, ConversationID: m.ConversationID, MessageID: m.ID}
	if b, found, err := ten.Batch(ctx, m.ConversationID); err != nil {
		return q, err
	} else if found {
		q.Queued, q.DeliverAfter = true, &b.Deadline
	}
	body, _ := json.Marshal(q)
	return q, ten.FinishIdempotent(ctx, key, 202, body)
}

// Fire is the scheduler's due callback: it answers the batch in a goroutine
// of its own, so that a slow provider never delays another batch.
func (p *Pipeline) Fire(key string) {
	d := p.deb
	if d == nil || d.ctx.Err() != nil {
		return
	}
	tenant, conversation, _ := strings.Cut(key, "\x00")
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		p.fireBatch(d.ctx, p.st.Tenant(tenant), conversation)
	}()
}

// retryWait is how long a failed batch waits: at least base, or the
// provider's Retry-After when it asked for longer (capped), plus up to half
// of that at random.
func retryWait(base time.Duration, err error) time.Duration {
	wait := base
	var ue *UpstreamError
	if errors.As(err, &ue) && ue.RetryAfter > wait {
		wait = min(ue.RetryAfter, maxRetryAfter)
	}
	return wait + rand.N(wait/2+1)
}

// fireBatch answers a due batch: re-check that the AI may answer, compose,
// then store the answer and its postback unless a newer message superseded
// the draft meanwhile.
func (p *Pipeline) fireBatch(ctx context.Context, ten *store.Tenant, conversationID string) {
	log := p.log.With("tenant_id", ten.ID(), "conversation_id", conversationID)
	// retryLater keeps an owed answer owed: after any failure the batch, still
	// stored, is tried again instead of waiting for the next restart.
	retryLater := func(what string, err error, base time.Duration) {
		if ctx.Err() != nil {
			return
		}
		after := retryWait(base, err)
		log.Error(what+"; retrying the batch later", "err", err, "after", after)
		p.deb.sched.Schedule(batchKey(ten.ID(), conversationID), time.Now().Add(after))
	}
	b, found, err := ten.Batch(ctx, conversationID)
	if err != nil {
		retryLater("read debounce batch", err, storeRetryDelay)
		return
	}
	if !found {
		return
	}
	unlock := p.threads.Lock(ten.ID() + "|" + b.LeadID + "|" + b.ChannelID)
	defer unlock()
	if b, found, err = ten.Batch(ctx, conversationID); err != nil {
		retryLater("read debounce batch", err, storeRetryDelay)
		return
	} else if !found {
		return
	}
	if !b.Due(time.Now()) { // moved later while this fire waited
		p.deb.sched.Schedule(batchKey(ten.ID(), conversationID), b.Deadline.Std())
		return
	}
	conv, err := ten.Conversation(ctx, conversationID)
	if errors.Is(err, store.ErrNotFound) { // deleted with its lead
		if err := ten.DropBatch(ctx, conversationID); err != nil {
			retryLater("drop batch", err, storeRetryDelay)
		}
		return
	} else if err != nil {
		retryLater("read conversation of a batch", err, storeRetryDelay)
		return
	}
	if !conv.IsAIActive { // a human took over: no AI call, no postback
		if err := ten.DropBatch(ctx, conversationID); err != nil {
			retryLater("drop batch", err, storeRetryDelay)
		}
		return
	}
	msgs, err := ten.MessagesByID(ctx, b.MessageIDs)
	if err != nil {
		retryLater("read batch messages", err, storeRetryDelay)
		return
	}
	images := map[string][]Image{}
	for i := range msgs {
		imgs, release, err := p.understand(ctx, ten, &msgs[i])
		defer release() // the image bytes stay until the answer is in
		if err != nil {
			log.Warn("media of a debounced message not understood", "message_id", msgs[i].ID, "err", err)
		}
		images[msgs[i].ID] = imgs
	}
	req, err := p.Request(ctx, ten, conv, msgs, images)
	if err != nil {
		retryLater("build request for batch", err, storeRetryDelay)
		return
	}
	release, err := p.slot(ctx, ten)
	if err != nil {
		return // stopping: the batch stays and fires after the next start
	}
	defer release()
	// A new message may have arrived while the batch waited in line: it
	// re-armed the batch, and answering the old one would be thrown away.
	if now, found, err := ten.Batch(ctx, conversationID); err == nil && (!found || now.Version != b.Version) {
		return
	}
	p.Typing(ten, conv, true)
	defer p.Typing(ten, conv, false)
	text, err := p.provider.Complete(ctx, req)
	release()
	if err != nil {
		retryLater("provider failed for a batch", err, p.cfg.BatchRetryDelay)
		return
	}
	if _, err := ten.CompleteBatch(ctx, b, text); errors.Is(err, store.ErrSuperseded) {
		log.Debug("draft dropped: a newer message arrived while composing")
	} else if err != nil {
		retryLater("store batch answer", err, storeRetryDelay)
	}
}
