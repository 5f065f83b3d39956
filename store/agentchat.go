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
		lead, _, err := ensureLead(ctx, w, leadID, true)
		if err != nil {
			return err
		}
		// On the default channel, as every conversation that names none.
		var channelID string
		if err := w.QueryRowContext(ctx, `SELECT id FROM channels WHERE tenant_id = ? AND is_default = 1`, w.tenant).Scan(&channelID); err != nil {
			return mapErr("find default channel", err)
		}
		if c, err = insertConversation(ctx, w, lead, &channelID, assistantID, "", Meta{}.merge(meta)); err != nil {
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
	if q.Search != "" || q.Meta != "" { // both read the search index
		if err := t.s.catchUpSearch(ctx); err != nil {
			return nil, 0, err
		}
	}
	// Search and meta filters are lists of candidate rows drawn from the
	// indexes; the query is then driven from those lists (the unary + keeps
	// SQLite from walking the tenant's whole index instead) and only the
	// matches are counted and sorted.
	var conds []string
	var args []any
	if s := strings.TrimSpace(q.Search); s != "" {
		cond, cargs, err := t.searchCondition(ctx, s)
		if err != nil {
			return nil, 0, err
		}
		conds, args = append(conds, cond), append(args, cargs...)
	}
	if m := strings.TrimSpace(q.Meta); m != "" {
		cond, cargs := t.metaCondition(m)
		conds, args = append(conds, cond), append(args, cargs...)
	}
	where := `c.tenant_id = ?`
	if len(conds) > 0 {
		where = drivenTenant[t.s.eng]
	}
	args = append([]any{t.id}, args...)
	if len(conds) > 0 {
		args = t.s.planned(args)
	}
	for _, c := range conds {
		where += ` AND ` + c
	}
	if q.From != nil {
		where += ` AND c.created_at >= ?`
		args = append(args, int64(*q.From))
	}
	if q.Until != nil {
		where += ` AND c.created_at < ?`
		args = append(args, int64(*q.Until))
	}
	countQuery, countArgs := `SELECT count(*) FROM conversations c WHERE `+where, args
	gen := t.s.countGen.Load()
	if strings.TrimSpace(q.Search) != "" {
		gen = t.s.searchCountGen()
	}
	// A total not in the cache comes with the page (a window count) when the
	// page reads every match anyway: a text search then runs its index
	// lookups once instead of twice. A keyset page reads only what follows
	// its cursor, so it counts apart.
	total, cached := t.s.cachedCount(gen, countQuery, countArgs...)
	windowed := !cached && q.AfterCreatedAt == nil
	if !cached && !windowed {
		var err error
		if total, err = t.s.countAt(ctx, gen, countQuery, countArgs...); err != nil {
			return nil, 0, mapErr("count conversations", err)
		}
	}
	window := ""
	if windowed {
		window = ", count(*) OVER ()"
	}
	if q.AfterCreatedAt != nil {
		where += ` AND (c.created_at, c.id) > (?, ?)`
		args = append(args, int64(*q.AfterCreatedAt), q.AfterID)
		q.Offset = 0
	}
	rows, err := t.s.query(ctx, `SELECT c.id, c.assistant_id, coalesce(a.name, ''), coalesce(a.description, ''),
coalesce(ch.type, 'api'), c.survey, c.meta, c.created_at, c.updated_at`+window+`
FROM conversations c LEFT JOIN assistants a ON a.tenant_id = c.tenant_id AND a.id = c.assistant_id
LEFT JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
WHERE `+where+` ORDER BY c.created_at, c.id LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, mapErr("search conversations", err)
	}
	defer rows.Close()
	out := []AgentConversation{}
	for rows.Next() {
		var a AgentConversation
		var meta string
		dest := []any{&a.ID, &a.BotID, &a.BotName, &a.Description, &a.Channel, &a.Survey, &meta, &a.CreatedAt, &a.UpdatedAt}
		if windowed {
			dest = append(dest, &total)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, mapErr("scan conversation", err)
		}
		a.Meta = decodeMeta(meta)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr("search conversations", err)
	}
	if windowed {
		if len(out) == 0 && q.Offset > 0 { // past the end: the window saw no row
			if total, err = t.s.countAt(ctx, gen, countQuery, countArgs...); err != nil {
				return nil, 0, mapErr("count conversations", err)
			}
		} else {
			t.s.keepCount(gen, total, countQuery, countArgs...)
		}
	}
	return out, total, nil
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
	return w.hook(ctx, HookConversationUpdated, conversationKey(c.ID), c)
}

// AgentConversation returns one conversation as the agent dialect shows it.
func (t *Tenant) AgentConversation(ctx context.Context, id string) (AgentConversation, error) {
	var a AgentConversation
	var meta string
	err := t.s.queryRow(ctx, `SELECT c.id, c.assistant_id, coalesce(a.name, ''), coalesce(a.description, ''),
coalesce(ch.type, 'api'), c.survey, c.meta, c.created_at, c.updated_at
FROM conversations c LEFT JOIN assistants a ON a.tenant_id = c.tenant_id AND a.id = c.assistant_id
LEFT JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
WHERE c.tenant_id = ? AND c.id = ?`, t.id, id).
		Scan(&a.ID, &a.BotID, &a.BotName, &a.Description, &a.Channel, &a.Survey, &meta, &a.CreatedAt, &a.UpdatedAt)
	a.Meta = decodeMeta(meta)
	return a, mapErr("get conversation "+id, err)
}
