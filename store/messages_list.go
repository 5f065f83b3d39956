package store

import (
	"context"
	"slices"
)

// FindLeadID resolves a lead reference (its id, phone or email) to its id.
func (t *Tenant) FindLeadID(ctx context.Context, ref string) (string, error) {
	var id string
	err := t.s.queryRow(ctx, `SELECT id FROM leads WHERE tenant_id = ?1 AND id = ?2
UNION ALL SELECT id FROM leads WHERE tenant_id = ?1 AND phone = ?2
UNION ALL SELECT id FROM leads WHERE tenant_id = ?1 AND email = ?2 LIMIT 1`, t.id, ref).Scan(&id)
	return id, mapErr("find lead "+ref, err)
}

// ListMessages lists messages oldest first for GET /backend/messages: those of
// a lead (leadID non-empty), of a channel, or of a lead on a channel.
func (t *Tenant) ListMessages(ctx context.Context, leadID, channelID string, p Page) ([]Message, error) {
	where, args := `tenant_id = ?`, []any{t.id}
	if leadID != "" {
		where += ` AND lead_id = ?`
		args = append(args, leadID)
	}
	if channelID != "" {
		where += ` AND channel_id = ?`
		args = append(args, channelID)
	}
	return t.messages(ctx, `SELECT `+messageColumns+` FROM messages WHERE `+where+
		` ORDER BY created_at, id LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
}

// LeadPage is a page of a lead's messages in chronological order.
type LeadPage struct {
	Messages []Message
	HasMore  bool
}

// LeadMessages pages through a lead's messages. With no bound it returns the
// newest limit; before returns the newest limit older than it; after the
// oldest limit newer than it. HasMore says whether more lie in that direction.
func (t *Tenant) LeadMessages(ctx context.Context, leadID string, limit int, before, after *Time) (LeadPage, error) {
	q := `SELECT ` + messageColumns + ` FROM messages WHERE tenant_id = ? AND lead_id = ?`
	args := []any{t.id, leadID}
	if before != nil {
		q += ` AND created_at < ?`
		args = append(args, int64(*before))
	}
	if after != nil {
		q += ` AND created_at > ?`
		args = append(args, int64(*after))
	}
	ascending := after != nil && before == nil
	if ascending {
		q += ` ORDER BY created_at, id LIMIT ?`
	} else {
		q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	}
	msgs, err := t.messages(ctx, q, append(args, limit+1)...)
	if err != nil {
		return LeadPage{}, err
	}
	page := LeadPage{HasMore: len(msgs) > limit}
	if page.HasMore {
		msgs, err = t.cutAtMillisecond(ctx, leadID, msgs, limit, ascending)
		if err != nil {
			return LeadPage{}, err
		}
	}
	if !ascending {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
	}
	page.Messages = msgs
	return page, nil
}

// cutAtMillisecond ends a page (msgs holds limit+1 rows in paging order) on a
// millisecond boundary. Clients page with before/after timestamps, so a page
// that ended inside a millisecond would make the next page skip the rest of
// it (an answer is often stored in the same millisecond as its question).
// The page drops its last millisecond, or, when every row shares it, takes
// the whole millisecond, beyond limit.
func (t *Tenant) cutAtMillisecond(ctx context.Context, leadID string, msgs []Message, limit int, ascending bool) ([]Message, error) {
	boundary := msgs[limit].Timestamp
	if msgs[limit-1].Timestamp != boundary {
		return msgs[:limit], nil
	}
	n := limit
	for n > 0 && msgs[n-1].Timestamp == boundary {
		n--
	}
	if n > 0 {
		return msgs[:n], nil
	}
	same, err := t.messages(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND lead_id = ? AND created_at = ?
ORDER BY created_at, id`, t.id, leadID, int64(boundary))
	if err != nil {
		return nil, err
	}
	if !ascending {
		for i, j := 0, len(same)-1; i < j; i, j = i+1, j-1 {
			same[i], same[j] = same[j], same[i]
		}
	}
	return same, nil
}

// History returns the newest limit messages of a conversation, oldest first
// (the AI's context window).
func (t *Tenant) History(ctx context.Context, conversationID string, limit int) ([]Message, error) {
	msgs, err := t.messages(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND conversation_id = ?
ORDER BY created_at DESC, id DESC LIMIT ?`, t.id, conversationID, limit)
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, err
}

// ConversationMessages returns every message of a conversation, oldest first.
func (t *Tenant) ConversationMessages(ctx context.Context, conversationID string) ([]Message, error) {
	return t.messages(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND conversation_id = ?
ORDER BY created_at, id`, t.id, conversationID)
}

// ConversationTail returns the last n messages of a conversation, oldest
// first, and how many it has in all: a long conversation shows its latest
// part (both from the messages_by_conversation index).
func (t *Tenant) ConversationTail(ctx context.Context, conversationID string, n int) ([]Message, int, error) {
	var total int
	if err := t.s.queryRow(ctx, `SELECT count(*) FROM messages WHERE tenant_id = ? AND conversation_id = ?`,
		t.id, conversationID).Scan(&total); err != nil {
		return nil, 0, mapErr("count messages", err)
	}
	msgs, err := t.messages(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND conversation_id = ?
ORDER BY created_at DESC, id DESC LIMIT ?`, t.id, conversationID, n)
	if err != nil {
		return nil, 0, err
	}
	slices.Reverse(msgs)
	return msgs, max(total, len(msgs)), nil
}

func (t *Tenant) messages(ctx context.Context, q string, args ...any) ([]Message, error) {
	rows, err := t.s.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list messages", err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, mapErr("scan message", err)
		}
		out = append(out, m)
	}
	return out, mapErr("list messages", rows.Err())
}
