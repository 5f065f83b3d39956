// Package ai is Parley's provider layer: the [Provider] interface that the
// turn pipeline calls to answer a conversation turn, its two implementations
// ([Builtin], deterministic and self-contained, and [OpenAI], any
// OpenAI-compatible API), and provider-independent media understanding
// (PDF text, image format and size, audio type sniffing) used to turn media
// into text before a model runs. The turn pipeline itself lives elsewhere
// and only depends on the types declared here.
package ai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Roles of a [Turn].
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
)

// Turn is one message of the conversation as the model sees it.
type Turn struct {
	// Role is "user", "assistant" or "system" (the pipeline maps "human"
	// to "assistant").
	Role string
	// Text is the message text; for older media it is the extracted text.
	Text string
	// Images are only set on the newest user turns; older media appear as
	// their extracted text.
	Images []Image
}

// Image is an image given to the model as vision input.
type Image struct {
	// MIME is the media type, e.g. "image/png".
	MIME string
	// Data holds the encoded image bytes.
	Data []byte
}

// Request is one completion request.
type Request struct {
	// SystemPrompt is sent first, as a system message, when not empty.
	SystemPrompt string
	// Model names the model; empty means the provider's default.
	Model string
	// Temperature is sent only when set.
	Temperature *float64
	// Turns is the conversation, oldest first, ending with the turn being
	// answered.
	Turns []Turn
	// UserText is the text of the turn being answered (batched messages
	// joined by "\n"); the builtin provider matches its rules on it.
	UserText string
}

// Audio is an audio recording to transcribe.
type Audio struct {
	// Data holds the encoded audio bytes.
	Data []byte
	// MIME is the declared media type; providers sniff Data first and use
	// MIME only when sniffing finds nothing.
	MIME string
}

// Provider is what the turn pipeline needs from a model.
type Provider interface {
	// Complete returns the model's full answer to req.
	Complete(ctx context.Context, req Request) (string, error)
	// Stream calls onToken for each token as it is produced and returns the
	// full answer. If onToken returns an error, or ctx is cancelled, Stream
	// stops and returns the text produced so far with the error.
	Stream(ctx context.Context, req Request, onToken func(token string) error) (string, error)
	// Transcribe turns audio into text. It returns ErrNoTranscription when
	// the provider cannot transcribe.
	Transcribe(ctx context.Context, audio Audio) (string, error)
}

// ErrNoTranscription is returned by Transcribe when the provider cannot
// transcribe audio (the builtin provider never can). The pipeline then
// stores a note saying that no transcription was available.
var ErrNoTranscription = errors.New("ai: no transcription available for this provider")

// UpstreamError reports a failed call to the model's API (mapped to HTTP 502
// UPSTREAM_ERROR by the server). Its message never contains the API key.
type UpstreamError struct {
	// Op names the failed operation: "chat", "chat stream" or "transcription".
	Op string
	// StatusCode is the HTTP status of the failed response, or 0 when there
	// was no response (connection error, timeout, malformed stream).
	StatusCode int
	// Err is the underlying error.
	Err error
	// RetryAfter is how long the provider asked callers to wait before the
	// next attempt (its Retry-After header, usually on 429 or 503); zero
	// when it said nothing.
	RetryAfter time.Duration
}

// Error returns e.g. "ai: chat: upstream status 500 Internal Server Error: …".
func (e *UpstreamError) Error() string {
	msg := "ai: " + e.Op
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(": upstream status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	} else {
		msg += ": upstream request failed"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *UpstreamError) Unwrap() error { return e.Err }
