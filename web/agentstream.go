package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// streamChat is POST /conversation/stream/{id}: the answer's tokens as the
// provider makes them, one flush per token. text/plain by default; SSE
// frames of {"token"} then {"done":true,"id"} with Accept: text/event-stream.
// Headers are sent with the first token, so a failure before it is still a
// problem JSON; a failure after it ends the stream (SSE: an {"error"} frame).
func (s *Server) streamChat(c echo.Context) error {
	text, err := chatText(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	sse := strings.Contains(c.Request().Header.Get("Accept"), "text/event-stream")
	w := c.Response()
	started := false
	begin := func() {
		if started {
			return
		}
		started = true
		h := w.Header()
		if sse {
			h.Set("Content-Type", "text/event-stream")
		} else {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	frame := func(v any) error {
		b, _ := json.Marshal(v)
		_, err := w.Write(append(append([]byte("data: "), b...), '\n', '\n'))
		return err
	}
	onToken := func(tok string) error {
		begin()
		var err error
		if sse {
			err = frame(map[string]string{"token": tok})
		} else {
			_, err = w.Write([]byte(tok))
		}
		if err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	res, err := s.pipeline.Chat(c.Request().Context(), tenantOf(c), id, text, onToken)
	if err != nil && !started {
		return orNotFound(s.turnError(c, err), "conversation", id)
	}
	begin()
	if sse {
		switch {
		case err != nil:
			frame(map[string]string{"error": "the answer was interrupted"})
		case res.Answered:
			frame(map[string]any{"done": true, "id": res.Answer.ID})
		default: // the AI is paused on this conversation: nothing to say
			frame(map[string]any{"done": true, "id": nil})
		}
	}
	w.Flush()
	if err != nil && c.Request().Context().Err() == nil {
		s.log.Warn("chat stream interrupted", "request_id", requestID(c), "err", err)
	}
	return nil
}
