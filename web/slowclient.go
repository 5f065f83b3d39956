package web

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// Slow clients (API.md §9). Headers must arrive within the http.Server's
// ReadHeaderTimeout; the body gets Config.BodyTimeout, set here as the
// connection's read deadline for the time the body is read, and lifted as
// soon as it is: a handler that then waits long (a synchronous AI turn)
// must not have its request cancelled by net/http's background read
// hitting the deadline. SSE streams have no body and are untouched.

// ctxBody holds the request's *trackedBody.
const ctxBody = "parley.body"

// drainGrace is how long a refused request's body may take to drain.
const drainGrace = time.Second

// defaultBodyTimeout is Config.BodyTimeout's default.
const defaultBodyTimeout = 30 * time.Second

// trackedBody knows whether the body was read to its end, and turns a read
// that hit the deadline into errBodyTimeout.
type trackedBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	eof      bool
	timedOut bool
}

// errBodyTimeout is a body that did not arrive in time (408).
var errBodyTimeout = errors.New("request body timeout")

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		if !b.eof {
			b.eof = true
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.timedOut = true
		return n, errBodyTimeout
	}
	return n, err
}

// bodyDeadline gives a request's body BodyTimeout to arrive.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err != nil {
			return next(c) // a writer without deadlines (tests' recorders): nothing to bound
		}
		orig := r.Body
		tb := &trackedBody{ReadCloser: orig, rc: rc}
		r.Body = tb
		// net/http looks at the request's own body type after the handler
		// to decide how to close the connection (closing at once, with
		// unread bytes, resets it under a client still reading the answer).
		defer func() { r.Body = orig }()
		c.Set(ctxBody, tb)
		return next(c)
	}
}

// closeIfUnread ends the connection after a response to a request whose body
// was not read to its end (a refusal before reading it: 401, 413, 415, 429,
// or a body that timed out). Connection: close sends the answer at once;
// net/http would otherwise drain up to 256 KB of body first, as slowly as
// the client sends it. It still drains after answering, so that closing
// with unread bytes does not reset the connection under a client reading
// the answer; drainGrace bounds that drain, so a client trickling its body
// loses the connection (and frees its goroutine) within a second.
func closeIfUnread(c echo.Context) {
	r := c.Request()
	if r.ContentLength == 0 || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return
	}
	tb, tracked := c.Get(ctxBody).(*trackedBody)
	if tracked && tb.eof {
		return
	}
	c.Response().Header().Set("Connection", "close")
	if tracked {
		_ = tb.rc.SetReadDeadline(time.Now().Add(drainGrace))
	}
}
