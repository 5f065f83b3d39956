package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// maxContentBytes bounds one message's text: far above any chat message,
// well below the body limit.
const maxContentBytes = 64 << 10

// seedMessage is an item of GET /backend/messages, exactly as seeds/003 shows
// it: url only on media items.
type seedMessage struct {
	ID          string     `json:"id"`
	Content     string     `json:"content"`
	Role        string     `json:"role"`
	MessageType string     `json:"message_type"`
	URL         *string    `json:"url,omitempty"`
	Timestamp   store.Time `json:"timestamp"`
	Status      string     `json:"status"`
}

// listMessages is GET /backend/messages: a bare array, oldest first.
func (s *Server) listMessages(c echo.Context) error {
	leadRef := c.QueryParam("lead")
	if leadRef == "" {
		leadRef = c.QueryParam("remote_jid")
	}
	channelID := c.QueryParam("channel_id")
	p, fields, err := pageAndFields(c)
	if err != nil {
		return err
	}
	if leadRef == "" && channelID == "" {
		fields = append([]FieldError{{"lead", "lead (or remote_jid) or channel_id is required"}}, fields...)
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	ten := tenantOf(c)
	ctx := c.Request().Context()
	out := []seedMessage{}
	leadID := ""
	if leadRef != "" {
		leadID, err = ten.FindLeadID(ctx, leadRef)
		if errors.Is(err, store.ErrNotFound) {
			return c.JSON(http.StatusOK, out) // a filter that matches no lead matches no message
		} else if err != nil {
			return err
		}
	}
	msgs, err := ten.ListMessages(ctx, leadID, channelID, p)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		sm := seedMessage{ID: m.ID, Content: m.Content, Role: m.Role, MessageType: m.MessageType, Timestamp: m.Timestamp, Status: m.Status}
		if m.MessageType != "text" {
			sm.URL = m.URL
		}
		out = append(out, sm)
	}
	return c.JSON(http.StatusOK, out)
}

// leadMessagesDefaultLimit is API.md §3.4's default page for a lead's history.
const leadMessagesDefaultLimit = 50

// leadMessages is GET /backend/messages/{lead_id}: a chronological page.
func (s *Server) leadMessages(c echo.Context) error {
	leadID := c.Param("lead_id")
	var fields []FieldError
	limit := leadMessagesDefaultLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			fields = append(fields, FieldError{"limit", "must be an integer between 1 and 100"})
		}
		limit = n
	}
	parseBound := func(name string) *store.Time {
		v := c.QueryParam(name)
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			fields = append(fields, FieldError{name, "must be an RFC 3339 timestamp"})
			return nil
		}
		st := store.TimeOf(t)
		if name == "before" && t.Sub(st.Std()) > 0 {
			st++ // stored times are whole milliseconds: "before .1235" includes .123
		}
		return &st
	}
	before, after := parseBound("before"), parseBound("after")
	if len(fields) > 0 {
		return invalid(fields...)
	}
	ten := tenantOf(c)
	ctx := c.Request().Context()
	if _, err := ten.Lead(ctx, leadID); err != nil {
		return orNotFound(err, "lead", leadID)
	}
	page, err := ten.LeadMessages(ctx, leadID, limit, before, after)
	if err != nil {
		return err
	}
	pag := map[string]any{"has_more": page.HasMore, "oldest_timestamp": nil}
	if len(page.Messages) > 0 {
		pag["oldest_timestamp"] = page.Messages[0].Timestamp
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": page.Messages, "pagination": pag})
}

type sendBody struct {
	LeadID    string `json:"lead_id"`
	Content   string `json:"content"`
	ChannelID string `json:"channel_id"`
	Role      string `json:"role"`
}

// checkOperator checks what send and media share: a lead, and an operator's
// role (human by default, or assistant). It returns the role to store.
func checkOperator(fields *fieldErrors, leadID, role string) string {
	if leadID == "" {
		fields.add("lead_id", "is required")
	}
	switch role {
	case "":
		return store.RoleHuman
	case store.RoleHuman, store.RoleAssistant:
		return role
	}
	fields.add("role", "must be one of human, assistant")
	return role
}

// sendMessage is POST /backend/messages/send: an operator's outbound message.
func (s *Server) sendMessage(c echo.Context) error {
	var b sendBody
	fields, err := bindFields(c, &b)
	if err != nil {
		return err
	}
	b.Role = checkOperator(&fields, b.LeadID, b.Role)
	if strings.TrimSpace(b.Content) == "" {
		fields.add("content", "is required")
	} else if len(b.Content) > maxContentBytes {
		fields.add("content", "must be at most 65536 bytes")
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	return s.storeOutbound(c, store.MessageInput{LeadID: b.LeadID, ChannelID: b.ChannelID, Role: b.Role,
		Content: b.Content, MessageType: "text", Status: store.MsgPending})
}

type mediaBody struct {
	LeadID    string `json:"lead_id"`
	Type      string `json:"type"`
	URL       string `json:"url"`
	Caption   string `json:"caption"`
	Filename  string `json:"filename"`
	ChannelID string `json:"channel_id"`
	Role      string `json:"role"`
}

var mediaTypes = map[string]bool{"image": true, "audio": true, "document": true, "video": true}

// sendMedia is POST /backend/messages/media. The URL is stored, never fetched.
func (s *Server) sendMedia(c echo.Context) error {
	var b mediaBody
	fields, err := bindFields(c, &b)
	if err != nil {
		return err
	}
	b.Role = checkOperator(&fields, b.LeadID, b.Role)
	if !mediaTypes[b.Type] {
		fields.add("type", "must be one of image, audio, document, video")
	}
	if !isHTTPURL(b.URL) {
		fields.add("url", "must be an http or https URL")
	}
	if len(b.Caption) > maxContentBytes {
		fields.add("caption", "must be at most 65536 bytes")
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	return s.storeOutbound(c, store.MessageInput{LeadID: b.LeadID, ChannelID: b.ChannelID, Role: b.Role,
		Content: b.Caption, MessageType: b.Type, URL: b.URL, Status: store.MsgPending})
}

// bindFields is bindJSON returning the wrongly typed fields instead of
// failing, so that a handler adds its own checks and names every bad field in
// one answer (API.md §1).
func bindFields(c echo.Context, v any) (fieldErrors, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	return decodeFields(body, v, false)
}

// storeOutbound stores an operator message and answers 201 with it.
func (s *Server) storeOutbound(c echo.Context, in store.MessageInput) error {
	st, err := tenantOf(c).AddMessage(c.Request().Context(), in)
	switch {
	case errors.Is(err, store.ErrUnknownChannel):
		return invalid(FieldError{"channel_id", "does not name a channel of this tenant"})
	case err != nil:
		return orNotFound(err, "lead", in.LeadID)
	}
	return ok(c, http.StatusCreated, st.Message)
}

// setMessageStatus is PUT /backend/messages/{id}/status (a gateway's receipt).
func (s *Server) setMessageStatus(c echo.Context) error {
	var b struct {
		Status string `json:"status"`
	}
	if err := bindJSON(c, &b); err != nil {
		return err
	}
	switch b.Status {
	case store.MsgSent, store.MsgDelivered, store.MsgRead, store.MsgFailed:
	default:
		return invalid(FieldError{"status", "must be one of sent, delivered, read, failed"})
	}
	id := c.Param("id")
	m, err := tenantOf(c).SetMessageStatus(c.Request().Context(), id, b.Status)
	if err != nil {
		return orNotFound(err, "message", id)
	}
	return ok(c, http.StatusOK, m)
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
