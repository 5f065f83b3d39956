package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrSuperseded reports a batch that received a newer message while its
// answer was being composed: the draft must be dropped.
var ErrSuperseded = errors.New("store: batch superseded by a newer message")

// Batch is a conversation's pending debounce window.
type Batch struct {
	TenantID       string
	ConversationID string
	LeadID         string
	ChannelID      string
	MessageIDs     []string
	Version        int
	PostbackURL    string
	FirstAt        Time
	Deadline       Time
}

// BatchInput is what a message adds to its conversation's batch (Tx.AddToBatch).
type BatchInput struct {
	PostbackURL string
}

const batchColumns = `tenant_id, conversation_id, lead_id, channel_id, message_ids, version, postback_url, first_at, deadline`

func scanBatch(row interface{ Scan(...any) error }) (Batch, error) {
	var b Batch
	var ids string
	err := row.Scan(&b.TenantID, &b.ConversationID, &b.LeadID, &b.ChannelID, &ids, &b.Version, &b.PostbackURL, &b.FirstAt, &b.Deadline)
	_ = json.Unmarshal([]byte(ids), &b.MessageIDs)
	return b, err
}

// addToBatch opens or extends the conversation's batch in the message's
// transaction: a sliding window of debounce_seconds, never past the first
// message plus debounce_max_wait_seconds.
func addToBatch(ctx context.Context, w *wtx, conv Conversation, msg Message, in *BatchInput) (Batch, error) {
	var window, maxWait float64
	if err := w.QueryRowContext(ctx, `SELECT debounce_seconds, debounce_max_wait_seconds FROM assistants WHERE tenant_id = ? AND id = ?`,
		w.tenant, conv.AssistantID).Scan(&window, &maxWait); err != nil {
		return Batch{}, mapErr("read debounce settings", err)
	}
	b, err := scanBatch(w.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE tenant_id = ? AND conversation_id = ?`,
		w.tenant, conv.ID))
	switch {
	case err == sql.ErrNoRows:
		b = Batch{TenantID: w.tenant, ConversationID: conv.ID, LeadID: conv.LeadID, ChannelID: deref(conv.ChannelID), FirstAt: Time(w.now)}
	case err != nil:
		return Batch{}, mapErr("read batch", err)
	}
	b.MessageIDs = append(b.MessageIDs, msg.ID)
	b.Version++
	b.PostbackURL = in.PostbackURL
	b.Deadline = Time(min(w.now+int64(window*1000), int64(b.FirstAt)+int64(maxWait*1000)))
	ids, _ := json.Marshal(b.MessageIDs)
	_, err = w.ExecContext(ctx, `INSERT INTO batches (`+batchColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET message_ids = excluded.message_ids, version = excluded.version,
postback_url = excluded.postback_url, deadline = excluded.deadline`,
		b.TenantID, b.ConversationID, b.LeadID, b.ChannelID, string(ids), b.Version, b.PostbackURL, b.FirstAt, b.Deadline)
	return b, mapErr("save batch", err)
}

// Batch returns a conversation's pending batch.
func (t *Tenant) Batch(ctx context.Context, conversationID string) (Batch, bool, error) {
	b, err := scanBatch(t.s.queryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE tenant_id = ? AND conversation_id = ?`,
		t.id, conversationID))
	if err == sql.ErrNoRows {
		return b, false, nil
	}
	return b, err == nil, mapErr("get batch", err)
}

// PendingBatches lists every pending batch (reloaded at start).
func (s *Store) PendingBatches(ctx context.Context) ([]Batch, error) {
	rows, err := s.query(ctx, `SELECT `+batchColumns+` FROM batches ORDER BY deadline`)
	if err != nil {
		return nil, mapErr("list batches", err)
	}
	defer rows.Close()
	var out []Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, mapErr("scan batch", err)
		}
		out = append(out, b)
	}
	return out, mapErr("list batches", rows.Err())
}

// DropBatch forgets a batch without answering it (a human took over).
func (t *Tenant) DropBatch(ctx context.Context, conversationID string) error {
	return t.s.write(ctx, t.id, func(w *wtx) error { return dropBatch(ctx, w, conversationID) })
}

func dropBatch(ctx context.Context, w *wtx, conversationID string) error {
	_, err := w.ExecContext(ctx, `DELETE FROM batches WHERE tenant_id = ? AND conversation_id = ?`, w.tenant, conversationID)
	return mapErr("drop batch", err)
}

// PostbackPayload is the body POSTed to a batch's postback_url (API.md §3.5).
type PostbackPayload struct {
	LeadID            string   `json:"lead_id"`
	TenantID          string   `json:"tenant_id"`
	ConversationID    string   `json:"conversation_id"`
	Response          string   `json:"response"`
	Timestamp         Time     `json:"timestamp"`
	MessagesProcessed int      `json:"messages_processed"`
	MessageIDs        []string `json:"message_ids"`
	ResponseMessageID string   `json:"response_message_id"`
}

// CompleteBatch stores the answer to batch b, queues its postback and closes
// the batch, in one transaction. If the batch changed since b was read (a
// newer message), nothing is written and ErrSuperseded is returned.
func (t *Tenant) CompleteBatch(ctx context.Context, b Batch, answer string) (Message, error) {
	var msg Message
	err := t.s.writeAbout(ctx, t.id, b.LeadID, func(w *wtx) error { // the lead's lane: its messages wait for no other
		var version int
		err := w.QueryRowContext(ctx, `SELECT version FROM batches WHERE tenant_id = ? AND conversation_id = ?`, t.id, b.ConversationID).Scan(&version)
		if err == sql.ErrNoRows || (err == nil && version != b.Version) {
			return ErrSuperseded
		} else if err != nil {
			return mapErr("check batch", err)
		}
		st, err := addMessage(ctx, w, MessageInput{ConversationID: b.ConversationID, LeadID: b.LeadID, Role: RoleAssistant,
			Content: answer, MessageType: "text", Status: MsgSent, FromAI: true})
		if err != nil {
			return err
		}
		msg = st.Message
		if _, err := w.enqueue(ctx, KindPostback, "", b.PostbackURL, "postback", conversationKey(b.ConversationID), PostbackPayload{
			LeadID: b.LeadID, TenantID: t.id, ConversationID: b.ConversationID, Response: answer, Timestamp: Time(w.now),
			MessagesProcessed: len(b.MessageIDs), MessageIDs: b.MessageIDs, ResponseMessageID: msg.ID,
		}); err != nil {
			return err
		}
		// Fenced by the version: on PostgreSQL a message of another
		// transaction may have joined the batch since the check above (it
		// waited for the conversation's row lock, which addMessage took
		// after the check). Then the batch is not this answer's to close:
		// roll it back. (On SQLite nothing ran in between: it deletes.)
		res, err := w.ExecContext(ctx, `DELETE FROM batches WHERE tenant_id = ? AND conversation_id = ? AND version = ?`,
			t.id, b.ConversationID, b.Version)
		if err != nil {
			return mapErr("close batch", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr("close batch", err)
		} else if n == 0 {
			return ErrSuperseded
		}
		return nil
	})
	return msg, err
}

// MessagesByID returns the given messages of the tenant, in the order given.
func (t *Tenant) MessagesByID(ctx context.Context, ids []string) ([]Message, error) {
	out := make([]Message, 0, len(ids))
	for _, id := range ids {
		m, err := t.Message(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted with its lead meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("store: batch message: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Due reports whether the batch's deadline has come at now.
func (b Batch) Due(now time.Time) bool { return !now.Before(b.Deadline.Std()) }
