package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// pageAndFields is pageParams returning the bad fields instead of failing, so
// that a list reports them together with its own (API.md §1: every bad field).
func pageAndFields(c echo.Context) (store.Page, []FieldError, error) {
	p, err := pageParams(c)
	var pr *Problem
	if errors.As(err, &pr) && pr.Status == http.StatusBadRequest && len(pr.Fields) > 0 {
		return p, pr.Fields, nil
	}
	return p, nil, err
}

func (s *Server) listConversations(c echo.Context) error {
	p, fields, err := pageAndFields(c)
	if err != nil {
		return err
	}
	f := store.ConversationFilter{LeadID: c.QueryParam("lead_id"), Status: c.QueryParam("status"),
		ChannelID: c.QueryParam("channel_id"), AssistantID: c.QueryParam("assistant_id")}
	if f.Status != "" && f.Status != store.StatusActive && f.Status != store.StatusArchived {
		fields = append(fields, FieldError{"status", "must be active or archived"})
	}
	switch v := c.QueryParam("is_ai_active"); v {
	case "":
	case "true", "false":
		b := v == "true"
		f.IsAIActive = &b
	default:
		fields = append(fields, FieldError{"is_ai_active", "must be true or false"})
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	list, total, err := tenantOf(c).ListConversations(c.Request().Context(), f, p)
	if err != nil {
		return err
	}
	return okList(c, list, total, p)
}

func (s *Server) getConversation(c echo.Context) error {
	id := c.Param("id")
	conv, err := tenantOf(c).Conversation(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "conversation", id)
	}
	return ok(c, http.StatusOK, conv)
}

type conversationBody struct {
	Status     *string    `json:"status"`
	IsAIActive *bool      `json:"is_ai_active"`
	Meta       store.Meta `json:"meta"`
}

func (s *Server) updateConversation(c echo.Context) error {
	var b conversationBody
	fields, err := bindFields(c, &b)
	if err != nil {
		return err
	}
	if b.Status != nil && *b.Status != store.StatusActive && *b.Status != store.StatusArchived {
		fields.add("status", "must be active or archived")
	}
	if msg := metaProblem(b.Meta); msg != "" {
		fields.add("meta", msg)
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	id := c.Param("id")
	conv, err := tenantOf(c).UpdateConversation(c.Request().Context(), id, store.ConversationPatch(b))
	if isConflict(err) {
		return problem(http.StatusConflict, CodeConflict, "the lead already has an active conversation on this thread")
	}
	if err != nil {
		return orNotFound(err, "conversation", id)
	}
	return ok(c, http.StatusOK, conv)
}

func (s *Server) markRead(c echo.Context) error {
	id := c.Param("id")
	conv, err := tenantOf(c).MarkRead(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "conversation", id)
	}
	return ok(c, http.StatusOK, conv)
}

// typingRoles are who may be reported typing: the lead (through a gateway),
// an operator, or the AI.
var typingRoles = map[string]bool{store.RoleUser: true, store.RoleHuman: true, store.RoleAssistant: true}

func (s *Server) typing(c echo.Context) error {
	var b struct {
		IsTyping *bool  `json:"is_typing"`
		Role     string `json:"role"`
	}
	fields, err := bindFields(c, &b)
	if err != nil {
		return err
	}
	if b.IsTyping == nil {
		fields.add("is_typing", "is required")
	}
	if b.Role == "" {
		b.Role = store.RoleUser
	} else if !typingRoles[b.Role] {
		fields.add("role", "must be one of user, human, assistant")
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	id := c.Param("id")
	ten := tenantOf(c)
	conv, err := ten.Conversation(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "conversation", id)
	}
	s.broker.PublishLive(store.TypingEvent(ten.ID(), conv, *b.IsTyping, b.Role))
	return ok(c, http.StatusOK, map[string]any{"conversation_id": conv.ID, "is_typing": *b.IsTyping, "role": b.Role})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }
