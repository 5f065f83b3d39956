package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
)

// Event types stored in the replayable log (API.md §2). typing, heartbeat and
// stream_reset are live-only and never reach this table.
const (
	EventNewMessage         = "new_message"
	EventConversationUpdate = "conversation_update"
	EventStatusChange       = "status_change"
	EventMessageStatus      = "message_status"
	EventTyping             = "typing"
)

// Event is one entry of a tenant's event log. Seq is 0 for live-only events.
// Payload is the complete `{"type":…,"data":…}` JSON line sent to clients.
type Event struct {
	TenantID       string
	Seq            int64
	Type           string
	ConversationID string
	LeadID         string
	ChannelID      string
	Payload        []byte
	CreatedAt      int64 // unix ms
}

// NewEvent builds an event whose payload is {"type":typ,"data":data}.
func NewEvent(tenant, typ, conversationID, leadID, channelID string, data any) (Event, error) {
	payload, err := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	if err != nil {
		return Event{}, fmt.Errorf("store: encode %s event: %w", typ, err)
	}
	return Event{TenantID: tenant, Type: typ, ConversationID: conversationID, LeadID: leadID,
		ChannelID: channelID, Payload: payload}, nil
}

// emit queues an event for this transaction; it is numbered and stored at commit.
func (w *wtx) emit(typ, conversationID, leadID, channelID string, data any) error {
	ev, err := NewEvent(w.tenant, typ, conversationID, leadID, channelID, data)
	if err != nil {
		return err
	}
	ev.CreatedAt = w.now
	w.events = append(w.events, ev)
	return nil
}

const insertEventSQL = `INSERT INTO events (tenant_id, seq, type, conversation_id, lead_id, channel_id, payload, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// insertEventsSQL is the insert of n events. n is a power of two up to
// maxEventsInsert, so that the statement cache holds a handful of texts.
func insertEventsSQL(n int) string { return insertEventsTexts[bits.Len(uint(n))-1] }

const maxEventsInsert = 64

var insertEventsTexts = func() (t [7]string) {
	for i := range t {
		t[i] = insertEventSQL + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?)", 1<<i-1)
	}
	return t
}()

// flushEvents numbers the events queued by a group's writes from their
// tenants' counters, in the order of the writes, and stores them in a few
// multi-row inserts: the last statements of the group's transaction, so ids
// follow commit order.
func flushEvents(ctx context.Context, ws []*wtx) error {
	var rows []*Event
	for _, w := range ws {
		if len(w.events) == 0 {
			continue
		}
		last, err := w.seqs.next(ctx, w, len(w.events))
		if err != nil {
			return err
		}
		for i := range w.events {
			w.events[i].Seq = last - int64(len(w.events)-1-i)
			rows = append(rows, &w.events[i])
		}
	}
	if len(rows) == 0 {
		return nil
	}
	args := make([]any, 0, 8*min(len(rows), maxEventsInsert))
	for len(rows) > 0 {
		n := 1 << (bits.Len(uint(min(len(rows), maxEventsInsert))) - 1) // the largest power of two that fits
		args = args[:0]
		for _, ev := range rows[:n] {
			args = append(args, ev.TenantID, ev.Seq, ev.Type, ev.ConversationID, ev.LeadID, ev.ChannelID, string(ev.Payload), ev.CreatedAt)
		}
		if _, err := ws[0].ExecContext(ctx, insertEventsSQL(n), args...); err != nil {
			return fmt.Errorf("store: insert events: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// seqCounters hands out event ids. The counter of record is
// tenants.last_event_seq, but bumping it with one UPDATE per write cost a
// statement per request; the writer goroutine (the only one that ever
// changes it) keeps the committed values in memory instead and writes each
// tenant's new value once per group commit, just before the commit.
type seqCounters struct {
	committed map[string]int64 // the writer's: values as of the last commit
	group     map[string]int64 // values issued in the open transaction
}

// next reserves n ids for w's tenant and returns the last of them.
func (c *seqCounters) next(ctx context.Context, w *wtx, n int) (int64, error) {
	cur, ok := c.group[w.tenant]
	if !ok {
		if cur, ok = c.committed[w.tenant]; !ok {
			if err := w.QueryRowContext(ctx, `SELECT last_event_seq FROM tenants WHERE id = ?`, w.tenant).Scan(&cur); err != nil {
				return 0, mapErr("read event seq", err)
			}
		}
	}
	cur += int64(n)
	c.group[w.tenant] = cur
	return cur, nil
}

// save writes the counters the open transaction moved.
func (c *seqCounters) save(ctx context.Context, w *wtx) error {
	for tenant, seq := range c.group {
		if _, err := w.ExecContext(ctx, `UPDATE tenants SET last_event_seq = ? WHERE id = ?`, seq, tenant); err != nil {
			return mapErr("save event seq", err)
		}
	}
	return nil
}

// settle ends the transaction's counters: kept when it committed, forgotten
// when it rolled back (the ids it issued are issued again).
func (c *seqCounters) settle(committed bool) {
	if committed {
		for tenant, seq := range c.group {
			c.committed[tenant] = seq
		}
	}
	clear(c.group)
}

// EventFilter selects events for a subscriber; empty fields match everything.
type EventFilter struct {
	ConversationID string
	LeadID         string
	ChannelID      string
	Types          map[string]bool
}

// Match reports whether ev passes the filter.
func (f EventFilter) Match(ev *Event) bool {
	if f.ConversationID != "" && ev.ConversationID != f.ConversationID {
		return false
	}
	if f.LeadID != "" && ev.LeadID != f.LeadID {
		return false
	}
	if f.ChannelID != "" && ev.ChannelID != f.ChannelID {
		return false
	}
	if len(f.Types) > 0 && !f.Types[ev.Type] {
		return false
	}
	return true
}

const eventsAfterSQL = `SELECT seq, type, conversation_id, lead_id, channel_id, payload, created_at
FROM events WHERE tenant_id = ? AND seq > ? AND seq <= ?
AND (? = '' OR conversation_id = ?) AND (? = '' OR lead_id = ?) AND (? = '' OR channel_id = ?)
ORDER BY seq LIMIT ?`

// EventsAfter returns up to limit stored events with after < seq <= upTo that
// match f's conversation, lead and channel, in order. f.Types is not applied
// here (few types, no index needed): callers filter with f.Match, and page on
// the raw row count.
func (t *Tenant) EventsAfter(ctx context.Context, after, upTo int64, f EventFilter, limit int) ([]Event, error) {
	rows, err := t.s.query(ctx, eventsAfterSQL, t.id, after, upTo,
		f.ConversationID, f.ConversationID, f.LeadID, f.LeadID, f.ChannelID, f.ChannelID, limit)
	if err != nil {
		return nil, mapErr("list events", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		ev := Event{TenantID: t.id}
		var payload string
		if err := rows.Scan(&ev.Seq, &ev.Type, &ev.ConversationID, &ev.LeadID, &ev.ChannelID, &payload, &ev.CreatedAt); err != nil {
			return nil, mapErr("scan event", err)
		}
		ev.Payload = []byte(payload)
		out = append(out, ev)
	}
	return out, mapErr("list events", rows.Err())
}

// EventBounds reports the tenant's log: the oldest id still held (0 if none),
// the highest id removed by retention, and the last id issued.
type EventBounds struct {
	Oldest, PrunedThrough, Last int64
}

// EventBounds reads the tenant's log bounds.
func (t *Tenant) EventBounds(ctx context.Context) (EventBounds, error) {
	var b EventBounds
	err := t.s.queryRow(ctx, `SELECT last_event_seq, events_pruned_through,
COALESCE((SELECT min(seq) FROM events WHERE tenant_id = tenants.id), 0) FROM tenants WHERE id = ?`, t.id).
		Scan(&b.Last, &b.PrunedThrough, &b.Oldest)
	return b, mapErr("event bounds", err)
}

// writeRaw runs a write transaction that belongs to no tenant (maintenance).
func (s *Store) writeRaw(ctx context.Context, fn func(*wtx) error) error {
	return s.write(ctx, "", fn)
}

// TypingData is the data of a typing event.
type TypingData struct {
	ConversationID string `json:"conversation_id"`
	LeadID         string `json:"lead_id"`
	IsTyping       bool   `json:"is_typing"`
	Role           string `json:"role"`
}

// TypingEvent builds the live-only typing event of a conversation.
func TypingEvent(tenant string, c Conversation, isTyping bool, role string) Event {
	ev, _ := NewEvent(tenant, EventTyping, c.ID, c.LeadID, deref(c.ChannelID),
		TypingData{ConversationID: c.ID, LeadID: c.LeadID, IsTyping: isTyping, Role: role})
	return ev // TypingData always encodes
}
