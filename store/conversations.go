package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Conversation statuses.
const (
	StatusActive   = "active"
	StatusArchived = "archived"
)

// Conversation is a thread between a lead and an assistant, on a channel or not.
type Conversation struct {
	ID            string       `json:"id"`
	Lead          LeadRef      `json:"lead"`
	LeadID        string       `json:"lead_id"`
	ChannelID     *string      `json:"channel_id"`
	AssistantID   string       `json:"assistant_id"`
	LastMessage   *LastMessage `json:"last_message"`
	UnreadCount   int          `json:"unread_count"`
	IsAIActive    bool         `json:"is_ai_active"`
	Status        string       `json:"status"`
	Meta          Meta         `json:"meta"`
	Survey        int          `json:"-"`
	SurveyComment string       `json:"-"`
	CreatedAt     Time         `json:"created_at"`
	UpdatedAt     Time         `json:"updated_at"`
}

// LeadRef is the lead summary embedded in a conversation.
type LeadRef struct {
	ID    string  `json:"id"`
	Name  *string `json:"name"`
	Phone *string `json:"phone"`
}

// LastMessage summarises a conversation's newest message.
type LastMessage struct {
	Content   string `json:"content"`
	Role      string `json:"role"`
	Timestamp Time   `json:"timestamp"`
}

const conversationColumns = `c.id, c.lead_id, c.channel_id, c.assistant_id, c.status, c.is_ai_active, c.unread_count, c.meta,
c.survey, c.survey_comment, c.last_message_content, c.last_message_role, c.last_message_at, c.created_at, c.updated_at,
l.name, l.phone`

const conversationFrom = ` FROM conversations c LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id`

func scanConversation(row interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var channel, lmContent, lmRole, name, phone sql.NullString
	var lmAt sql.NullInt64
	var meta string
	err := row.Scan(&c.ID, &c.LeadID, &channel, &c.AssistantID, &c.Status, &c.IsAIActive, &c.UnreadCount, &meta,
		&c.Survey, &c.SurveyComment, &lmContent, &lmRole, &lmAt, &c.CreatedAt, &c.UpdatedAt, &name, &phone)
	if err != nil {
		return Conversation{}, err
	}
	c.ChannelID = strPtr(channel)
	c.Meta = decodeMeta(meta)
	c.Lead = LeadRef{ID: c.LeadID, Name: strPtr(name), Phone: strPtr(phone)}
	if lmAt.Valid {
		c.LastMessage = &LastMessage{Content: lmContent.String, Role: lmRole.String, Timestamp: Time(lmAt.Int64)}
	}
	return c, nil
}

// clone copies c so that no caller shares its maps and pointers (the
// writer's thread cache keeps conversations).
func (c Conversation) clone() Conversation {
	if c.Meta != nil {
		c.Meta = c.Meta.merge(nil)
	}
	c.ChannelID = clonePtr(c.ChannelID)
	c.Lead.Name = clonePtr(c.Lead.Name)
	c.Lead.Phone = clonePtr(c.Lead.Phone)
	if c.LastMessage != nil {
		lm := *c.LastMessage
		c.LastMessage = &lm
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// ErrUnknownChannel reports a message or filter naming a channel the tenant lacks.
var ErrUnknownChannel = fmt.Errorf("channel %w", ErrNotFound)

// Conversation returns one conversation.
func (t *Tenant) Conversation(ctx context.Context, id string) (Conversation, error) {
	c, err := scanConversation(t.s.queryRow(ctx, `SELECT `+conversationColumns+conversationFrom+
		` WHERE c.tenant_id = ? AND c.id = ?`, t.id, id))
	return c, mapErr("get conversation "+id, err)
}

func getConversation(ctx context.Context, w *wtx, id string) (Conversation, error) {
	c, err := scanConversation(w.QueryRowContext(ctx, `SELECT `+conversationColumns+conversationFrom+
		` WHERE c.tenant_id = ? AND c.id = ?`, w.tenant, id))
	return c, mapErr("get conversation "+id, err)
}

// ConversationFilter narrows ListConversations; empty fields match all.
type ConversationFilter struct {
	LeadID, Status, ChannelID, AssistantID string
	IsAIActive                             *bool
}

// sortMatchesMax is how many filtered conversations ListConversations
// sorts at most; past it, it walks the activity order instead.
var sortMatchesMax = 2000

// conversationsWhere is the WHERE clause of a conversation list. walk marks
// the channel and assistant terms with a unary +, so that SQLite does not
// read them through their indexes.
func conversationsWhere(tenant string, f ConversationFilter, walk bool) (string, []any) {
	where := ` WHERE c.tenant_id = ?`
	args := []any{tenant}
	for _, eq := range []struct{ col, v string }{
		{"c.lead_id", f.LeadID}, {"c.status", f.Status}, {"c.channel_id", f.ChannelID}, {"c.assistant_id", f.AssistantID},
	} {
		if eq.v != "" {
			if walk && (eq.col == "c.channel_id" || eq.col == "c.assistant_id") {
				where += ` AND +` + eq.col + ` = ?`
			} else {
				where += ` AND ` + eq.col + ` = ?`
			}
			args = append(args, eq.v)
		}
	}
	if f.IsAIActive != nil {
		where += ` AND c.is_ai_active = ?`
		args = append(args, *f.IsAIActive)
	}
	return where, args
}

// pageKeys name a conversation row in the page query: SQLite picks the
// page by rowid (the index entries end with it), PostgreSQL, which has no
// rowid, by its primary key.
var pageKeys = [...]struct{ outer, inner string }{
	engineSQLite:   {`c.pk`, `c.pk`},
	enginePostgres: {`(c.tenant_id, c.id)`, `c.tenant_id, c.id`},
}

// conversationsPageSQL is the query of a page of conversations, given how
// many match. Only the activity and status indexes are in activity order
// (see schema.sql), and without statistics SQLite prefers walking one of
// them to sorting, even for a lead's two conversations among 100,000. So a
// lead filter, and a channel or assistant filter with few matches, read the
// matches through their own index and sort them; a channel or assistant
// with many matches walks the activity (or status) order and skips the rest.
// PostgreSQL keeps statistics and plans this by itself: it gets neither
// INDEXED BY nor the unary + (which it does not have for text).
func conversationsPageSQL(eng engine, tenant string, f ConversationFilter, total int) (string, []any) {
	index := ""
	switch {
	case eng == enginePostgres:
	case f.LeadID != "":
		index = "conversations_by_lead"
	case total > sortMatchesMax:
	case f.ChannelID != "":
		index = "conversations_by_channel"
	case f.AssistantID != "":
		index = "conversations_by_assistant"
	}
	from := ` FROM conversations c`
	if index != "" {
		from += ` INDEXED BY ` + index
	}
	where, args := conversationsWhere(tenant, f, index == "" && eng == engineSQLite)
	// The page's rows are picked from the index alone and only they are then
	// read and joined to their leads: an offset page otherwise reads and
	// joins every row it skips (page 10 of 20 read 200 rows and 200 leads).
	key := pageKeys[eng]
	return `SELECT ` + conversationColumns + conversationFrom + ` WHERE ` + key.outer + ` IN (SELECT ` + key.inner + from + where +
		` ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?) ORDER BY c.updated_at DESC, c.id DESC`, args
}

// ListConversations lists conversations, newest activity first.
func (t *Tenant) ListConversations(ctx context.Context, f ConversationFilter, p Page) ([]Conversation, int, error) {
	where, args := conversationsWhere(t.id, f, false)
	total, err := t.s.count(ctx, `SELECT count(*) FROM conversations c`+where, args...)
	if err != nil {
		return nil, 0, mapErr("count conversations", err)
	}
	q, args := conversationsPageSQL(t.s.eng, t.id, f, total)
	rows, err := t.s.query(ctx, q, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, mapErr("list conversations", err)
	}
	defer rows.Close()
	out := []Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, 0, mapErr("scan conversation", err)
		}
		out = append(out, c)
	}
	return out, total, mapErr("list conversations", rows.Err())
}

// ConversationPatch is the body of PUT /backend/conversations/{id}.
type ConversationPatch struct {
	Status     *string
	IsAIActive *bool
	Meta       Meta
}

// UpdateConversation applies a patch and emits status_change and/or
// conversation_update when something visible changed.
func (t *Tenant) UpdateConversation(ctx context.Context, id string, p ConversationPatch) (Conversation, error) {
	var c Conversation
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		cur, err := getConversation(ctx, w, id)
		if err != nil {
			return err
		}
		next := cur
		if p.Status != nil {
			next.Status = *p.Status
		}
		if p.IsAIActive != nil {
			next.IsAIActive = *p.IsAIActive
		}
		next.Meta = cur.Meta.merge(p.Meta)
		metaChanged := next.Meta.encode() != cur.Meta.encode()
		changed := next.Status != cur.Status || next.IsAIActive != cur.IsAIActive || metaChanged
		if !changed { // a no-op PUT neither moves the conversation up the list nor announces anything
			c = cur
			return nil
		}
		if _, err := w.ExecContext(ctx, `UPDATE conversations SET status = ?, is_ai_active = ?, meta = ?, updated_at = ?
WHERE tenant_id = ? AND id = ?`, next.Status, next.IsAIActive, next.Meta.encode(), w.now, t.id, id); err != nil {
			return mapErr("update conversation "+id, err) // reopening beside a newer active thread is ErrConflict
		}
		if next.Status != cur.Status {
			if err := w.emitStatusChange(next); err != nil {
				return err
			}
		}
		w.counts = true // status and AI flag filter lists; meta is searched
		if err := w.emitConversationUpdate(next); err != nil {
			return err
		}
		if metaChanged {
			if err := indexConversations(ctx, w, `c.tenant_id = ? AND c.id = ?`, t.id, id); err != nil {
				return err
			}
		}
		if c, err = getConversation(ctx, w, id); err != nil {
			return err
		}
		return w.hook(ctx, HookConversationUpdated, conversationKey(c.ID), c)
	})
	return c, err
}

// MarkRead zeroes the unread count and marks the lead's messages read.
func (t *Tenant) MarkRead(ctx context.Context, id string) (Conversation, error) {
	var c Conversation
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		if _, err := getConversation(ctx, w, id); err != nil {
			return err
		}
		if _, err := w.ExecContext(ctx, `UPDATE messages SET status = 'read' WHERE tenant_id = ? AND conversation_id = ?
AND role = 'user' AND status IN ('pending', 'sent', 'delivered')`, t.id, id); err != nil {
			return mapErr("mark messages read", err)
		}
		if _, err := w.ExecContext(ctx, `UPDATE conversations SET unread_count = 0 WHERE tenant_id = ? AND id = ?`, t.id, id); err != nil {
			return mapErr("mark conversation read", err)
		}
		var err error
		if c, err = getConversation(ctx, w, id); err != nil {
			return err
		}
		return w.emitConversationUpdate(c)
	})
	return c, err
}

// ConversationUpdateData is the data of a conversation_update event.
type ConversationUpdateData struct {
	ConversationID string `json:"conversation_id"`
	LeadID         string `json:"lead_id"`
	IsAIActive     bool   `json:"is_ai_active"`
	UnreadCount    int    `json:"unread_count"`
	Status         string `json:"status"`
}

func (w *wtx) emitConversationUpdate(c Conversation) error {
	return w.emit(EventConversationUpdate, c.ID, c.LeadID, deref(c.ChannelID), ConversationUpdateData{
		ConversationID: c.ID, LeadID: c.LeadID, IsAIActive: c.IsAIActive, UnreadCount: c.UnreadCount, Status: c.Status})
}

func (w *wtx) emitStatusChange(c Conversation) error {
	return w.emit(EventStatusChange, c.ID, c.LeadID, deref(c.ChannelID), struct {
		ConversationID string `json:"conversation_id"`
		LeadID         string `json:"lead_id"`
		Status         string `json:"status"`
	}{c.ID, c.LeadID, c.Status})
}
