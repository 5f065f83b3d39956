package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// assistantBody is the JSON of POST and PUT /backend/assistants.
type assistantBody struct {
	Name                   *string  `json:"name"`
	Description            *string  `json:"description"`
	Presentation           *string  `json:"presentation"`
	SystemPrompt           *string  `json:"system_prompt"`
	Model                  *string  `json:"model"`
	Temperature            *float64 `json:"temperature"`
	HistoryLimit           *int     `json:"history_limit"`
	DebounceSeconds        *float64 `json:"debounce_seconds"`
	DebounceMaxWaitSeconds *float64 `json:"debounce_max_wait_seconds"`
	PauseOnHuman           *bool    `json:"pause_on_human"`
}

// Limits on assistant settings: a window of an hour at most keeps a forgotten
// batch from waiting for ever; 200 messages of history is far past any model's
// useful context for a chat turn.
const (
	maxDebounceSeconds = 3600
	maxHistoryLimit    = 200
	maxPromptBytes     = 64 << 10
)

func decodeAssistant(body []byte, creating bool) (store.AssistantInput, error) {
	var b assistantBody
	fields, err := decodeFields(body, &b, !creating)
	if err != nil {
		return store.AssistantInput{}, err
	}
	if b.Name != nil {
		*b.Name = strings.TrimSpace(*b.Name)
	}
	if (creating && b.Name == nil) || (b.Name != nil && *b.Name == "") {
		fields.add("name", "is required")
	} else if b.Name != nil && len(*b.Name) > maxTextField {
		fields.add("name", "must be at most 512 characters")
	}
	if b.SystemPrompt != nil && len(*b.SystemPrompt) > maxPromptBytes {
		fields.add("system_prompt", "must be at most 65536 bytes")
	}
	if b.Temperature != nil && (*b.Temperature < 0 || *b.Temperature > 2) {
		fields.add("temperature", "must be between 0 and 2")
	}
	if b.HistoryLimit != nil && (*b.HistoryLimit < 0 || *b.HistoryLimit > maxHistoryLimit) {
		fields.add("history_limit", "must be between 0 and 200")
	}
	if b.DebounceSeconds != nil && (*b.DebounceSeconds < 0 || *b.DebounceSeconds > maxDebounceSeconds) {
		fields.add("debounce_seconds", "must be between 0 and 3600")
	}
	if b.DebounceMaxWaitSeconds != nil && (*b.DebounceMaxWaitSeconds < 0 || *b.DebounceMaxWaitSeconds > maxDebounceSeconds) {
		fields.add("debounce_max_wait_seconds", "must be between 0 and 3600")
	}
	if len(fields) > 0 {
		return store.AssistantInput{}, invalid(fields...)
	}
	return store.AssistantInput(b), nil
}

func (s *Server) createAssistant(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := decodeAssistant(body, true)
	if err != nil {
		return err
	}
	a, err := tenantOf(c).CreateAssistant(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusCreated, a)
}

func (s *Server) getAssistant(c echo.Context) error {
	id := c.Param("id")
	a, err := tenantOf(c).Assistant(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "assistant", id)
	}
	return ok(c, http.StatusOK, a)
}

func (s *Server) updateAssistant(c echo.Context) error {
	id := c.Param("id")
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := decodeAssistant(body, false)
	if err != nil {
		return err
	}
	a, err := tenantOf(c).UpdateAssistant(c.Request().Context(), id, in)
	if err != nil {
		return orNotFound(err, "assistant", id)
	}
	return ok(c, http.StatusOK, a)
}

func (s *Server) deleteAssistant(c echo.Context) error {
	id := c.Param("id")
	err := tenantOf(c).DeleteAssistant(c.Request().Context(), id)
	if errors.Is(err, store.ErrDefaultAssistant) {
		return problem(http.StatusConflict, CodeConflict, "the default assistant cannot be deleted")
	}
	if err != nil {
		return orNotFound(err, "assistant", id)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listAssistants(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	list, total, err := tenantOf(c).ListAssistants(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return okList(c, list, total, p)
}

// channelBody is the JSON of POST and PUT /backend/channels.
type channelBody struct {
	Name        *string `json:"name"`
	Type        *string `json:"type"`
	AssistantID *string `json:"assistant_id"`
}

func decodeChannel(body []byte, creating bool) (store.ChannelInput, error) {
	var b channelBody
	fields, err := decodeFields(body, &b, !creating)
	if err != nil {
		return store.ChannelInput{}, err
	}
	if b.Name != nil {
		*b.Name = strings.TrimSpace(*b.Name)
	}
	if (creating && b.Name == nil) || (b.Name != nil && *b.Name == "") {
		fields.add("name", "is required")
	} else if b.Name != nil && len(*b.Name) > maxTextField {
		fields.add("name", "must be at most 512 characters")
	}
	if (creating && b.Type == nil) || (b.Type != nil && !slices.Contains(store.ChannelTypes, *b.Type)) {
		fields.add("type", "must be one of "+strings.Join(store.ChannelTypes, ", "))
	}
	if len(fields) > 0 {
		return store.ChannelInput{}, invalid(fields...)
	}
	return store.ChannelInput(b), nil
}

// channelErr maps a channel write's errors: an unknown assistant is the body's fault.
func channelErr(err error, id string) error {
	if errors.Is(err, store.ErrUnknownAssistant) {
		return invalid(FieldError{"assistant_id", "does not name an assistant of this tenant"})
	}
	return orNotFound(err, "channel", id)
}

func (s *Server) createChannel(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := decodeChannel(body, true)
	if err != nil {
		return err
	}
	ch, err := tenantOf(c).CreateChannel(c.Request().Context(), in)
	if err != nil {
		return channelErr(err, "")
	}
	return ok(c, http.StatusCreated, ch)
}

func (s *Server) getChannel(c echo.Context) error {
	id := c.Param("id")
	ch, err := tenantOf(c).Channel(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "channel", id)
	}
	return ok(c, http.StatusOK, ch)
}

func (s *Server) updateChannel(c echo.Context) error {
	id := c.Param("id")
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := decodeChannel(body, false)
	if err != nil {
		return err
	}
	ch, err := tenantOf(c).UpdateChannel(c.Request().Context(), id, in)
	if err != nil {
		return channelErr(err, id)
	}
	return ok(c, http.StatusOK, ch)
}

func (s *Server) deleteChannel(c echo.Context) error {
	id := c.Param("id")
	err := tenantOf(c).DeleteChannel(c.Request().Context(), id)
	if errors.Is(err, store.ErrDefaultChannel) {
		return problem(http.StatusConflict, CodeConflict, "the default channel cannot be deleted")
	}
	if err != nil {
		return orNotFound(err, "channel", id)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listChannels(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	list, total, err := tenantOf(c).ListChannels(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return okList(c, list, total, p)
}
