package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// Error codes of API.md §1, one per status.
const (
	CodeValidation   = "VALIDATION_ERROR"
	CodeUnauthorized = "UNAUTHORIZED"
	CodeForbidden    = "FORBIDDEN"
	CodeNotFound     = "NOT_FOUND"
	CodeMethod       = "METHOD_NOT_ALLOWED" // not in API.md's list; 405 needs a code of its own
	CodeTimeout      = "REQUEST_TIMEOUT"    // not in API.md's list either: 408, a body too slow to arrive
	CodeConflict     = "ALREADY_EXISTS"
	CodeTooLarge     = "PAYLOAD_TOO_LARGE"
	CodeUnsupported  = "UNSUPPORTED_MEDIA"
	CodeRateLimited  = "RATE_LIMITED"
	CodeInternal     = "INTERNAL"
	CodeUpstream     = "UPSTREAM_ERROR"
	CodeUnavailable  = "UNAVAILABLE"
)

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an API error; every failed request is rendered from one.
type Problem struct {
	Status int
	Code   string
	Detail string
	Fields []FieldError
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

func problem(status int, code, format string, args ...any) *Problem {
	return &Problem{Status: status, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// invalid is a 400 listing every bad field.
func invalid(fields ...FieldError) *Problem {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + " " + f.Message
	}
	return &Problem{Status: http.StatusBadRequest, Code: CodeValidation, Detail: strings.Join(parts, "; "), Fields: fields}
}

func notFound(kind, id string) *Problem {
	return problem(http.StatusNotFound, CodeNotFound, "%s %s not found", kind, id)
}

// orNotFound maps store.ErrNotFound to a 404 naming the resource.
func orNotFound(err error, kind, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(kind, id)
	}
	return err
}

type problemBody struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail"`
	Instance string       `json:"instance"`
	Success  bool         `json:"success"`
	Error    problemError `json:"error"`
	Errors   []FieldError `json:"errors,omitempty"`
}

type problemError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// toProblem maps any error to the Problem it is shown as. Unknown errors are
// 500 INTERNAL with nothing of the error in the body.
func toProblem(err error) (*Problem, bool) {
	var p *Problem
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p, true
	case errors.Is(err, errBodyTimeout):
		return problem(http.StatusRequestTimeout, CodeTimeout, "the request body did not arrive in time"), true
	case errors.As(err, &mbe):
		return problem(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds %d bytes", mbe.Limit), true
	case errors.Is(err, store.ErrNotFound):
		return problem(http.StatusNotFound, CodeNotFound, "resource not found"), true
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, CodeConflict, "resource already exists"), true
	case errors.Is(err, store.ErrStorage):
		return storageProblem("storage is full or failing: the write was not saved; retry later"), true
	case errors.Is(err, store.ErrUnavailable):
		return storageProblem("the database cannot be reached; retry later"), true
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return problem(he.Code, CodeNotFound, "no route for this path"), true
		case http.StatusMethodNotAllowed:
			return problem(he.Code, CodeMethod, "method not allowed on this path"), true
		case http.StatusRequestEntityTooLarge:
			return problem(he.Code, CodeTooLarge, "request body too large"), true
		case http.StatusUnsupportedMediaType:
			return problem(he.Code, CodeUnsupported, "unsupported content type"), true
		case http.StatusUnauthorized:
			return problem(he.Code, CodeUnauthorized, "missing or invalid API key"), true
		case http.StatusBadRequest:
			return problem(he.Code, CodeValidation, "bad request"), true
		case http.StatusServiceUnavailable:
			return problem(he.Code, CodeUnavailable, "service unavailable"), true
		}
	}
	return problem(http.StatusInternalServerError, CodeInternal, "internal error"), false
}

// storageRetryAfter is the Retry-After of a write refused for lack of
// storage: space usually comes back by an operator's hand, in minutes.
const storageRetryAfter = 30

// storageProblem is the answer to a write refused because the disk is full
// or failing: an outage (503), with nothing of the cause but its class.
func storageProblem(detail string) *Problem {
	p := problem(http.StatusServiceUnavailable, CodeUnavailable, "%s", detail)
	p.RetryAfter = storageRetryAfter
	return p
}

// problemType is the URI naming a code: VALIDATION_ERROR → …/validation-error.
func problemType(code string) string {
	return "https://parley.dev/problems/" + strings.ReplaceAll(strings.ToLower(code), "_", "-")
}

// writeProblem renders p as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	body, _ := json.Marshal(problemBody{
		Type: problemType(p.Code), Title: http.StatusText(p.Status), Status: p.Status, Detail: p.Detail,
		Instance: r.URL.Path, Error: problemError{Code: p.Code, Message: p.Detail}, Errors: p.Fields,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	w.Write(body)
}

// errorHandler is echo's HTTPErrorHandler: the one place errors become responses.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p, known := toProblem(err)
		if !known {
			log.Error("request failed", "request_id", requestID(c), "route", c.Path(), "err", err)
		}
		closeIfUnread(c)
		writeProblem(c.Response(), c.Request(), p)
	}
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
