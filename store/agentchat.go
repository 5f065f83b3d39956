package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNotAssistantMessage refuses feedback on a message the AI did not write.
var ErrNotAssistantMessage = errors.New("store: only assistant messages take feedback")

// CreateConversation opens a new conversation with an assistant, as the
// agent-conversation dialect does: for the lead leadID (created when unknown)
// or, when leadID is empty, for a new anonymous lead. It is announced on the
// event stream.
func (t *Tenant) CreateConversation(ctx context.Context, assistantID, leadID string, meta Meta) (Conversation, error) {
	var c Conversation
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		if err := checkAssistant(ctx, w, &assistantID); err != nil {
			return err
		}
		if leadID == "" {
			leadID = NewID()
		}
		if _, err := ensureLead(ctx, w, leadID, true); err != nil {
			return err
		}
		var err error
		if c, err = insertConversation(ctx, w, leadID, nil, assistantID, "", Meta{}.merge(meta)); err != nil {
			return err
		}
		return w.emitConversationUpdate(c)
	})
	return c, err
}

// AgentConversation is a conversation as the agent-conversation dialect lists it.
type AgentConversation struct {
	ID          string
	BotID       string
	BotName     string
	Description string
	Channel     string
	Survey      int
	Meta        Meta
	CreatedAt   Time
	UpdatedAt   Time
}

// ConversationQuery selects a page of GET /conversation. After, when set,
// pages by keyset from that (created_at, id); else Offset applies.
type ConversationQuery struct {
	Limit, Offset  int
	AfterCreatedAt *Time
	AfterID        string
	From, Until    *Time // created_at in [From, Until)
	Search         string
	Meta           string
}

// SearchConversations pages through the tenant's conversations, oldest first
// (so that pages stay put while new conversations arrive), with the total
// that match.
func (t *Tenant) SearchConversations(ctx context.Context, q ConversationQuery) ([]AgentConversation, int, error) {
	if q.Search != "" {
		if err := t.s.catchUpSearch(ctx); err != nil {
			return nil, 0, err
		}
	}
	where, args := `c.tenant_id = ?`, []any{t.id}
	if q.From != nil {
		where += ` AND c.created_at >= ?`
		args = append(args, int64(*q.From))
	}
	if q.Until != nil {
		where += ` AND c.created_at < ?`
		args = append(args, int64(*q.Until))
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		cond, cargs := t.searchCondition(s)
		where += ` AND ` + cond
		args = append(args, cargs...)
	}
	if m := strings.TrimSpace(q.Meta); m != "" {
		if len([]rune(m)) >= minTrigram {
			where += ` AND c.pk IN (SELECT rowid FROM conversation_search WHERE conversation_search MATCH ?)`
			args = append(args, "meta : "+ftsPhrase(m))
		} else {
			where += ` AND EXISTS (SELECT 1 FROM json_each(c.meta) WHERE type NOT IN ('object', 'array') AND value LIKE ? ESCAPE '\')`
			args = append(args, likePattern(m))
		}
	}
	var total int
	if err := t.s.queryRow(ctx, `SELECT count(*) FROM conversations c WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, mapErr("count conversations", err)
	}
	if q.AfterCreatedAt != nil {
		where += ` AND (c.created_at, c.id) > (?, ?)`
		args = append(args, int64(*q.AfterCreatedAt), q.AfterID)
		q.Offset = 0
	}
	rows, err := t.s.query(ctx, `SELECT c.id, c.assistant_id, coalesce(a.name, ''), coalesce(a.description, ''),
coalesce(ch.type, 'api'), c.survey, c.meta, c.created_at, c.updated_at
FROM conversations c LEFT JOIN assistants a ON a.id = c.assistant_id LEFT JOIN channels ch ON ch.id = c.channel_id
WHERE `+where+` ORDER BY c.created_at, c.id LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, mapErr("search conversations", err)
	}
	defer rows.Close()
	out := []AgentConversation{}
	for rows.Next() {
		var a AgentConversation
		var meta string
		if err := rows.Scan(&a.ID, &a.BotID, &a.BotName, &a.Description, &a.Channel, &a.Survey, &meta, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return nil, 0, mapErr("scan conversation", err)
		}
		a.Meta = decodeMeta(meta)
		out = append(out, a)
	}
	return out, total, mapErr("search conversations", rows.Err())
}

// searchCondition matches s in a conversation's id, its lead's id, name,
// phone and email, its meta values, its assistant's name and its messages'
// text: from the trigram indexes when s is long enough, by scanning otherwise.
func (t *Tenant) searchCondition(s string) (string, []any) {
	like := likePattern(s)
	agent := `c.assistant_id IN (SELECT id FROM assistants WHERE tenant_id = ? AND name LIKE ? ESCAPE '\')`
	if len([]rune(s)) >= minTrigram {
		phrase := ftsPhrase(s)
		return `(c.pk IN (SELECT rowid FROM conversation_search WHERE conversation_search MATCH ?)
OR c.id IN (SELECT m.conversation_id FROM messages m WHERE m.tenant_id = ? AND m.pk IN
  (SELECT rowid FROM messages_search WHERE messages_search MATCH ?))
OR ` + agent + `)`, []any{phrase, t.id, phrase, t.id, like}
	}
	// Plain ? only: numbered parameters would clash with the caller's.
	return `(c.id LIKE ? ESCAPE '\' OR c.lead_id LIKE ? ESCAPE '\'
OR c.lead_id IN (SELECT id FROM leads WHERE tenant_id = ? AND (name LIKE ? ESCAPE '\' OR phone LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\'))
OR EXISTS (SELECT 1 FROM json_each(c.meta) WHERE type NOT IN ('object', 'array') AND value LIKE ? ESCAPE '\')
OR EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = ? AND m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\')
OR ` + agent + `)`, []any{like, like, t.id, like, like, like, like, t.id, like, t.id, like}
}

// SetFeedback records a like or dislike (nil clears it) on an assistant
// message and announces the conversation's change.
func (t *Tenant) SetFeedback(ctx context.Context, messageID string, feedback *string, comment string) (Message, error) {
	var m Message
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		var err error
		m, err = scanMessage(w.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND id = ?`, t.id, messageID))
		if err != nil {
			return mapErr("get message "+messageID, err)
		}
		if m.Role != RoleAssistant {
			return ErrNotAssistantMessage
		}
		if _, err := w.ExecContext(ctx, `UPDATE messages SET feedback = ?, feedback_comment = ? WHERE tenant_id = ? AND id = ?`,
			nullStr(feedback), nullStr(&comment), t.id, messageID); err != nil {
			return mapErr("set feedback", err)
		}
		m.Feedback = feedback
		return announce(ctx, w, m.ConversationID)
	})
	return m, err
}

// SetSurvey records a conversation's 1–5 satisfaction rating.
func (t *Tenant) SetSurvey(ctx context.Context, conversationID string, rating int, comment string) (Conversation, error) {
	var c Conversation
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		res, err := w.ExecContext(ctx, `UPDATE conversations SET survey = ?, survey_comment = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			rating, comment, w.now, t.id, conversationID)
		if err != nil {
			return mapErr("set survey", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: conversation %s: %w", conversationID, ErrNotFound)
		}
		if c, err = getConversation(ctx, w, conversationID); err != nil {
			return err
		}
		return announce(ctx, w, conversationID)
	})
	return c, err
}

// announce emits conversation_update and the conversation.updated webhook.
func announce(ctx context.Context, w *wtx, conversationID string) error {
	c, err := getConversation(ctx, w, conversationID)
	if err != nil {
		return err
	}
	if err := w.emitConversationUpdate(c); err != nil {
		return err
	}
	return w.hook(ctx, HookConversationUpdated, c)
}

// AgentConversation returns one conversation as the agent dialect shows it.
func (t *Tenant) AgentConversation(ctx context.Context, id string) (AgentConversation, error) {
	var a AgentConversation
	var meta string
	err := t.s.queryRow(ctx, `SELECT c.id, c.assistant_id, coalesce(a.name, ''), coalesce(a.description, ''),
coalesce(ch.type, 'api'), c.survey, c.meta, c.created_at, c.updated_at
FROM conversations c LEFT JOIN assistants a ON a.id = c.assistant_id LEFT JOIN channels ch ON ch.id = c.channel_id
WHERE c.tenant_id = ? AND c.id = ?`, t.id, id).
		Scan(&a.ID, &a.BotID, &a.BotName, &a.Description, &a.Channel, &a.Survey, &meta, &a.CreatedAt, &a.UpdatedAt)
	a.Meta = decodeMeta(meta)
	return a, mapErr("get conversation "+id, err)
}
