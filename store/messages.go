package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Message roles and statuses (API.md §3.4).
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleHuman     = "human"
	RoleSystem    = "system"

	MsgPending   = "pending"
	MsgSent      = "sent"
	MsgDelivered = "delivered"
	MsgRead      = "read"
	MsgFailed    = "failed"
)

// statusRank orders message statuses; a status only moves forward, except to failed.
var statusRank = map[string]int{MsgPending: 0, MsgSent: 1, MsgDelivered: 2, MsgRead: 3}

// Message is one stored message.
type Message struct {
	ID             string  `json:"id"`
	ConversationID string  `json:"conversation_id"`
	LeadID         string  `json:"lead_id"`
	ChannelID      *string `json:"channel_id"`
	Role           string  `json:"role"`
	Content        string  `json:"content"`
	MessageType    string  `json:"message_type"`
	URL            *string `json:"url"`
	ExtractedText  *string `json:"extracted_text"`
	Status         string  `json:"status"`
	Feedback       *string `json:"feedback"`
	ExternalID     *string `json:"-"`
	Timestamp      Time    `json:"timestamp"`
}

// MessageInput is a message to store. The conversation is ConversationID when
// set, else the lead's active conversation on ChannelID (the tenant's
// default channel when empty), created when missing.
type MessageInput struct {
	LeadID         string
	ChannelID      string
	ConversationID string
	CreateLead     bool // store an unknown LeadID as a new lead instead of failing
	Role           string
	Content        string
	MessageType    string
	URL            string
	ExtractedText  string
	Status         string
	ExternalID     string
	FromAI         bool // an AI answer: webhook ai.response instead of message.sent
}

// Stored reports what AddMessage did.
type Stored struct {
	Message      Message
	Conversation Conversation
	LeadCreated  bool
}

const messageColumns = `id, conversation_id, lead_id, channel_id, role, content, message_type, url, extracted_text,
status, feedback, external_id, created_at`

func scanMessage(row interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var channel, url, extracted, feedback, external sql.NullString
	err := row.Scan(&m.ID, &m.ConversationID, &m.LeadID, &channel, &m.Role, &m.Content, &m.MessageType, &url, &extracted,
		&m.Status, &feedback, &external, &m.Timestamp)
	m.ChannelID, m.URL, m.ExtractedText, m.Feedback, m.ExternalID = strPtr(channel), strPtr(url), strPtr(extracted), strPtr(feedback), strPtr(external)
	return m, err
}

// AddMessage stores a message with its events in one transaction: the lead
// (when CreateLead), the conversation (when new), the message, the
// conversation's new state, new_message and conversation_update.
func (t *Tenant) AddMessage(ctx context.Context, in MessageInput) (Stored, error) {
	var st Stored
	err := t.Write(ctx, in.About(), func(tx *Tx) error {
		var err error
		st, err = tx.AddMessage(in)
		return err
	})
	return st, err
}

// About is what a write of the message is about (Tenant.Write): its lead,
// else its conversation.
func (in MessageInput) About() string {
	if in.LeadID != "" {
		return in.LeadID
	}
	return in.ConversationID
}

func addMessage(ctx context.Context, w *wtx, in MessageInput) (Stored, error) {
	var st Stored
	conv, leadCreated, err := resolveConversation(ctx, w, in)
	if err != nil {
		return st, err
	}
	st.LeadCreated = leadCreated
	if in.MessageType == "" {
		in.MessageType = "text"
	}
	// The stored row is known in full here: no RETURNING round trip.
	st.Message = Message{ID: NewID(), ConversationID: conv.ID, LeadID: conv.LeadID, ChannelID: conv.ChannelID,
		Role: in.Role, Content: in.Content, MessageType: in.MessageType, URL: optional(in.URL),
		ExtractedText: optional(in.ExtractedText), Status: in.Status, ExternalID: optional(in.ExternalID), Timestamp: Time(w.now)}
	before := conv
	if in.Role == RoleUser {
		conv.UnreadCount++
	}
	if in.Role == RoleHuman && conv.IsAIActive {
		var pause bool
		if err := w.QueryRowContext(ctx, `SELECT pause_on_human FROM assistants WHERE tenant_id = ? AND id = ?`,
			w.tenant, conv.AssistantID).Scan(&pause); err != nil && err != sql.ErrNoRows {
			return st, mapErr("read assistant", err)
		}
		conv.IsAIActive = !pause
	}
	preview := in.Content
	if preview == "" && in.MessageType != "text" {
		preview = "[" + in.MessageType + "]"
	}
	conv.LastMessage = &LastMessage{Content: preview, Role: in.Role, Timestamp: Time(w.now)}
	conv.UpdatedAt = Time(w.now)
	if err := w.insertMessage(ctx, st.Message, conv, preview); err != nil {
		return st, err
	}
	w.unindexed = true
	// Exactly the row just written (threads.go).
	w.threads.remember(w.tenant, conv.clone(), in.LeadID, in.ChannelID, in.ConversationID == "")
	st.Conversation = conv
	if err := w.emit(EventNewMessage, conv.ID, conv.LeadID, deref(conv.ChannelID), NewMessageData{
		ConversationID: conv.ID, LeadID: conv.LeadID, ChannelID: conv.ChannelID, Message: eventMessage(st.Message)}); err != nil {
		return st, err
	}
	if err := w.hook(ctx, messageHook(in), conversationKey(conv.ID), st.Message); err != nil {
		return st, err
	}
	w.newMsgCounts(before, conv)
	if conv.IsAIActive != before.IsAIActive {
		if err := w.hook(ctx, HookConversationUpdated, conversationKey(conv.ID), conv); err != nil {
			return st, err
		}
	}
	if conv.UnreadCount != before.UnreadCount || conv.IsAIActive != before.IsAIActive {
		return st, w.emitConversationUpdate(conv)
	}
	return st, nil
}

// insertMessage stores m and its conversation's new state c (preview is
// the last message's text). On PostgreSQL that is one statement, so one
// round trip; SQLite, in process, runs the two.
func (w *wtx) insertMessage(ctx context.Context, m Message, c Conversation, preview string) error {
	args := []any{m.ID, w.tenant, c.ID, c.LeadID, nullStr(c.ChannelID), m.Role, m.Content, m.MessageType,
		nullStr(m.URL), nullStr(m.ExtractedText), m.Status, nullStr(m.ExternalID), w.now,
		c.UnreadCount, c.IsAIActive, preview}
	if w.pg {
		_, err := w.ExecContext(ctx, pgInsertMessageSQL, args...)
		return mapErr("insert message", err)
	}
	if _, err := w.ExecContext(ctx, insertMessageSQL, args[:13]...); err != nil {
		return mapErr("insert message", err)
	}
	_, err := w.execKeepingThreads(ctx, touchConversationSQL, c.UnreadCount, c.IsAIActive, preview, m.Role, w.now, w.now, w.tenant, c.ID)
	return mapErr("touch conversation", err)
}

const (
	insertMessageSQL = `INSERT INTO messages (id, tenant_id, conversation_id, lead_id, channel_id,
role, content, message_type, url, extracted_text, status, external_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	touchConversationSQL = `UPDATE conversations SET unread_count = ?, is_ai_active = ?, last_message_content = ?,
last_message_role = ?, last_message_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`
	pgInsertMessageSQL = `WITH m AS (
  INSERT INTO messages (id, tenant_id, conversation_id, lead_id, channel_id,
    role, content, message_type, url, extracted_text, status, external_id, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
)
UPDATE conversations SET unread_count = $14, is_ai_active = $15, last_message_content = $16,
  last_message_role = $6, last_message_at = $13, updated_at = $13 WHERE tenant_id = $2 AND id = $3`
)

// messageQueries are AddMessage's lookups of the conversation it writes to.
// On PostgreSQL they lock its row (FOR UPDATE OF c: the lead's side of the
// join is only read): AddMessage writes back state it computed from what it
// read (the unread count, the AI flag), and two writers of a conversation
// must not both start from the same count. SQLite's single writer needs
// no lock.
type messageQueries struct {
	thread string // the lead's active thread with a thread key
	byID   string // a conversation by id
}

// threadHasChannel keeps a deleted channel's threads from taking messages:
// a message to a channel that is gone is refused (ErrUnknownChannel).
const threadHasChannel = `
  AND EXISTS (SELECT 1 FROM channels ch WHERE ch.tenant_id = c.tenant_id AND ch.id = c.channel_id)`

var messageSQL = [...]messageQueries{
	engineSQLite: {
		thread: `SELECT ` + conversationColumns + conversationFrom + `
WHERE c.tenant_id = ? AND c.lead_id = ? AND c.status = 'active' AND c.thread_key = ?` + threadHasChannel,
		byID: `SELECT ` + conversationColumns + conversationFrom + ` WHERE c.tenant_id = ? AND c.id = ?`,
	},
	enginePostgres: {
		thread: `SELECT ` + conversationColumns + conversationFrom + `
WHERE c.tenant_id = $1 AND c.lead_id = $2 AND c.status = 'active' AND c.thread_key = $3` + threadHasChannel + ` FOR UPDATE OF c`,
		byID: `SELECT ` + conversationColumns + conversationFrom + ` WHERE c.tenant_id = $1 AND c.id = $2 FOR UPDATE OF c`,
	},
}

func (w *wtx) messageSQL() *messageQueries {
	if w.pg {
		return &messageSQL[enginePostgres]
	}
	return &messageSQL[engineSQLite]
}

// optional maps "" to nil, as a NULL column reads back.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// messageHook names the webhook event of a stored message.
func messageHook(in MessageInput) string {
	switch {
	case in.FromAI:
		return HookAIResponse
	case in.Role == RoleUser:
		return HookMessageReceived
	case in.Role == RoleSystem:
		return "" // internal notes are nobody's business outside
	}
	return HookMessageSent
}

// ensureLead checks that the lead exists, creating it when allowed, and
// returns what a conversation shows of it. Two writers creating one lead at
// once need no lock: the second one's insert waits for the first's commit
// and then does nothing (insertLead's ON CONFLICT), and its second lookup,
// a new snapshot, finds the lead.
func ensureLead(ctx context.Context, w *wtx, leadID string, create bool) (LeadRef, bool, error) {
	ref := LeadRef{ID: leadID}
	find := func() (bool, error) {
		var name, phone sql.NullString
		err := w.QueryRowContext(ctx, `SELECT name, phone FROM leads WHERE tenant_id = ? AND id = ?`, w.tenant, leadID).
			Scan(&name, &phone)
		if err == sql.ErrNoRows {
			return false, nil
		}
		ref.Name, ref.Phone = strPtr(name), strPtr(phone)
		return err == nil, mapErr("check lead", err)
	}
	found, err := find()
	if err != nil || found {
		return ref, false, err
	}
	if !create {
		return ref, false, fmt.Errorf("store: lead %s: %w", leadID, ErrNotFound)
	}
	_, err = insertLead(ctx, w, LeadInput{ID: &leadID})
	if errors.Is(err, ErrConflict) { // created by another writer since the lookup
		if found, err = find(); err == nil && !found {
			err = fmt.Errorf("store: lead %s: %w", leadID, ErrConflict)
		}
		return ref, false, err
	}
	return ref, err == nil, err
}

// resolveConversation finds the conversation a message belongs to, creating
// the lead's active thread on first contact (API.md §3.2), and the lead too
// when in.CreateLead allows. The usual case, an existing thread, is one query.
func resolveConversation(ctx context.Context, w *wtx, in MessageInput) (Conversation, bool, error) {
	if in.ConversationID != "" {
		c, ok := w.threads.conversation(w.tenant, in.ConversationID)
		var err error
		if ok {
			c = c.clone()
		} else {
			c, err = scanConversation(w.QueryRowContext(ctx, w.messageSQL().byID, w.tenant, in.ConversationID))
			err = mapErr("get conversation "+in.ConversationID, err)
		}
		if err == nil && c.LeadID != in.LeadID && in.LeadID != "" {
			return c, false, fmt.Errorf("store: conversation %s belongs to another lead: %w", c.ID, ErrConflict)
		}
		return c, false, err
	}
	if c, ok := w.threads.thread(w.tenant, in.LeadID, in.ChannelID); ok {
		return c.clone(), false, nil
	}
	// A message that names no channel goes to the tenant's default channel
	// (version 9), so that every conversation has one and a client asking
	// for ?channel_id=<default>&lead=… finds /ai/process traffic.
	channelID := in.ChannelID
	if channelID == "" {
		var err error
		if channelID, err = w.defaultChannel(ctx); err != nil {
			return Conversation{}, false, err
		}
	}
	threadKey := "c:" + channelID
	find := func() (Conversation, error) {
		return scanConversation(w.QueryRowContext(ctx, w.messageSQL().thread, w.tenant, in.LeadID, threadKey))
	}
	// The usual case: the thread exists (and its channel too, which the
	// query checks), one statement. Else the channel decides.
	c, err := find()
	if err == nil {
		return c, false, nil
	} else if err != sql.ErrNoRows {
		return Conversation{}, false, mapErr("find conversation", err)
	}
	var asst sql.NullString
	err = w.QueryRowContext(ctx, `SELECT assistant_id FROM channels WHERE tenant_id = ? AND id = ?`, w.tenant, channelID).Scan(&asst)
	if err == sql.ErrNoRows {
		return Conversation{}, false, ErrUnknownChannel
	} else if err != nil {
		return Conversation{}, false, mapErr("read channel", err)
	}
	assistantID := asst.String
	if w.pg {
		// Another writer may be creating this thread: wait for it, then
		// look again (pglocks.go).
		if err = w.pgLock(ctx, lockThread, w.tenant, in.LeadID, threadKey); err != nil {
			return Conversation{}, false, err
		}
		if c, err = find(); err == nil {
			return c, false, nil
		} else if err != sql.ErrNoRows {
			return Conversation{}, false, mapErr("find conversation", err)
		}
	}
	lead, leadCreated, err := ensureLead(ctx, w, in.LeadID, in.CreateLead)
	if err != nil {
		return Conversation{}, false, err
	}
	if assistantID == "" {
		if err := w.QueryRowContext(ctx, `SELECT id FROM assistants WHERE tenant_id = ? AND is_default = 1`, w.tenant).Scan(&assistantID); err != nil {
			return Conversation{}, false, mapErr("find default assistant", err)
		}
	}
	c, err = insertConversation(ctx, w, lead, &channelID, assistantID, threadKey, nil)
	return c, leadCreated, err
}

func insertConversation(ctx context.Context, w *wtx, lead LeadRef, channelID *string, assistantID, threadKey string, meta Meta) (Conversation, error) {
	id := NewID()
	if threadKey == "" {
		threadKey = "e:" + id
	}
	encoded := meta.encode()
	if _, err := w.ExecContext(ctx, `INSERT INTO conversations (id, tenant_id, lead_id, channel_id, assistant_id, thread_key, meta,
created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, w.tenant, lead.ID, nullStr(channelID), assistantID, threadKey, encoded, w.now, w.now); err != nil {
		return Conversation{}, mapErr("insert conversation", err)
	}
	w.unindexed = true // the indexer adds it to the search index (indexer.go)
	w.counts = true
	if err := indexNewConversation(ctx, w, id); err != nil {
		return Conversation{}, err
	}
	// The row is known in full (the columns not set are the schema's
	// defaults): no read back.
	return Conversation{ID: id, Lead: lead, LeadID: lead.ID, ChannelID: clonePtr(channelID), AssistantID: assistantID,
		IsAIActive: true, Status: StatusActive, Meta: decodeMeta(encoded), CreatedAt: Time(w.now), UpdatedAt: Time(w.now)}, nil
}

// NewMessageData is the data of a new_message event.
type NewMessageData struct {
	ConversationID string       `json:"conversation_id"`
	LeadID         string       `json:"lead_id"`
	ChannelID      *string      `json:"channel_id"`
	Message        EventMessage `json:"message"`
}

// EventMessage is the message as new_message events show it.
type EventMessage struct {
	ID          string  `json:"id"`
	Content     string  `json:"content"`
	Role        string  `json:"role"`
	MessageType string  `json:"message_type"`
	URL         *string `json:"url"`
	Status      string  `json:"status"`
	Timestamp   Time    `json:"timestamp"`
}

func eventMessage(m Message) EventMessage {
	return EventMessage{ID: m.ID, Content: m.Content, Role: m.Role, MessageType: m.MessageType, URL: m.URL,
		Status: m.Status, Timestamp: m.Timestamp}
}

// Message returns one message.
func (t *Tenant) Message(ctx context.Context, id string) (Message, error) {
	m, err := scanMessage(t.s.queryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND id = ?`, t.id, id))
	return m, mapErr("get message "+id, err)
}

// SetMessageStatus moves a message's status forward (failed from anywhere) and
// emits message_status; a backward move changes nothing and is not an error.
func (t *Tenant) SetMessageStatus(ctx context.Context, id, status string) (Message, error) {
	var m Message
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		var err error
		m, err = scanMessage(w.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND id = ?`, t.id, id))
		if err != nil {
			return mapErr("get message "+id, err)
		}
		cur, known := statusRank[m.Status]
		next, ok := statusRank[status]
		forward := status == MsgFailed && m.Status != MsgFailed || known && ok && next > cur
		if !forward {
			return nil
		}
		if _, err := w.ExecContext(ctx, `UPDATE messages SET status = ? WHERE tenant_id = ? AND id = ?`, status, t.id, id); err != nil {
			return mapErr("set message status", err)
		}
		m.Status = status
		return w.emit(EventMessageStatus, m.ConversationID, m.LeadID, deref(m.ChannelID), struct {
			ConversationID string `json:"conversation_id"`
			LeadID         string `json:"lead_id"`
			MessageID      string `json:"message_id"`
			Status         string `json:"status"`
		}{m.ConversationID, m.LeadID, m.ID, status})
	})
	return m, err
}

// Import stores many messages in one transaction, each exactly as AddMessage
// would (events included): for importing history, and for seeding benchmarks.
func (t *Tenant) Import(ctx context.Context, ins []MessageInput) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		for _, in := range ins {
			if _, err := addMessage(ctx, w, in); err != nil {
				return err
			}
		}
		return nil
	})
}
