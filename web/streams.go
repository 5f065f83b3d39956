package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/stream"
)

// streamTypes are the event types a stream's `types` filter may name: every
// type of API.md §2. heartbeat and stream_reset are control frames, sent
// whatever the filter, so naming them is accepted and changes nothing.
var streamTypes = map[string]bool{
	store.EventNewMessage: true, store.EventConversationUpdate: true, store.EventStatusChange: true,
	store.EventMessageStatus: true, store.EventTyping: true, stream.TypeHeartbeat: true, stream.TypeStreamReset: true,
}

// tenantStreamsRetryAfter is the Retry-After of a stream refused for its
// tenant's cap: streams close when their clients go, which takes a while.
const tenantStreamsRetryAfter = 10

// streamEvents serves both SSE routes of API.md §2. Everything that can fail
// is checked before the first byte, so errors are still problem JSON.
func (s *Server) streamEvents(c echo.Context) error {
	ten := tenantOf(c)
	f := store.EventFilter{ConversationID: c.QueryParam("conversation_id"), LeadID: c.QueryParam("lead_id"),
		ChannelID: c.QueryParam("channel_id")}
	if id := c.Param("id"); id != "" {
		if _, err := ten.Conversation(c.Request().Context(), id); err != nil {
			return orNotFound(err, "conversation", id)
		}
		f.ConversationID = id
	}
	var fields []FieldError
	if v := c.QueryParam("types"); v != "" {
		f.Types = map[string]bool{}
		var unknown []string
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if !streamTypes[t] {
				unknown = append(unknown, strconv.Quote(t))
				continue
			}
			f.Types[t] = true
		}
		if len(unknown) > 0 { // one entry per field (API.md §1), naming every bad value
			fields = append(fields, FieldError{"types", "unknown event type " + strings.Join(unknown, ", ") +
				"; must be among new_message, conversation_update, status_change, message_status, typing, heartbeat, stream_reset"})
		}
	}
	sub := stream.Subscription{TenantID: ten.ID(), KeyID: c.Get(ctxKey).(store.APIKey).ID, Filter: f}
	// The header wins, as EventSource sends it on reconnection; a bad value is
	// reported under the name the client used.
	lastField, last := "Last-Event-ID", c.Request().Header.Get("Last-Event-ID")
	if last == "" {
		lastField, last = "last_event_id", c.QueryParam("last_event_id")
	}
	if last != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
		if err != nil || n < 0 {
			fields = append(fields, FieldError{lastField, "must be a non-negative integer event id"})
		}
		sub.LastEventID, sub.HasLastEventID = n, true
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	err := s.broker.Serve(c.Response(), c.Request(), sub)
	switch {
	case errors.Is(err, stream.ErrTenantStreams):
		p := problem(http.StatusTooManyRequests, CodeRateLimited,
			"this tenant has too many open streams; close some, or retry later")
		p.RetryAfter = tenantStreamsRetryAfter
		return p
	case errors.Is(err, stream.ErrTooManyStreams):
		c.Response().Header().Set("Retry-After", "5")
		return problem(http.StatusServiceUnavailable, CodeUnavailable, "too many open streams; retry later")
	case errors.Is(err, stream.ErrClosed):
		return problem(http.StatusServiceUnavailable, CodeUnavailable, "the server is shutting down")
	case err != nil:
		s.log.Warn("stream ended with an error", "request_id", requestID(c), "err", err)
	}
	return nil
}
