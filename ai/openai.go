package ai

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Defaults of the OpenAI provider.
const (
	DefaultOpenAIModel           = "gpt-5.4-mini"
	DefaultOpenAITranscribeModel = "gpt-transcribe"
	DefaultOpenAITimeout         = 2 * time.Minute
	DefaultOpenAIMaxRetries      = 2
)

// OpenAIConfig configures [NewOpenAI].
type OpenAIConfig struct {
	// BaseURL of an OpenAI-compatible API, e.g. "https://api.openai.com/v1"
	// (the default), "http://localhost:11434/v1" (Ollama) or a vLLM or
	// LM Studio server.
	BaseURL string
	// APIKey is sent as a bearer token when not empty.
	APIKey string
	// Model is the chat model used when Request.Model is empty; empty
	// means DefaultOpenAIModel.
	Model string
	// TranscribeModel is the audio transcription model; empty means
	// DefaultOpenAITranscribeModel.
	TranscribeModel string
	// Timeout bounds each attempt, streamed answer included; zero means
	// DefaultOpenAITimeout.
	Timeout time.Duration
	// MaxRetries bounds the retries on connection errors, 408, 409, 429 and
	// 5xx; zero means DefaultOpenAIMaxRetries, negative means none.
	MaxRetries int
	// HTTPClient is used for every call; nil means the SDK's default.
	HTTPClient *http.Client
}

// OpenAI is a [Provider] on the chat completions and audio transcriptions
// endpoints of any OpenAI-compatible API, through the official SDK.
// Every failure of the API is returned as an *[UpstreamError]; a cancelled
// ctx is returned as the context's cause.
type OpenAI struct {
	client          openai.Client
	model           string
	transcribeModel string
	apiKey          string
	timeout         time.Duration
}

var _ Provider = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI-compatible provider. The configuration is
// explicit: the SDK's OPENAI_API_KEY and OPENAI_BASE_URL environment
// variables are overridden by cfg.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	p := &OpenAI{
		model:           cfg.Model,
		transcribeModel: cfg.TranscribeModel,
		apiKey:          cfg.APIKey,
	}
	if p.model == "" {
		p.model = DefaultOpenAIModel
	}
	if p.transcribeModel == "" {
		p.transcribeModel = DefaultOpenAITranscribeModel
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultOpenAITimeout
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultOpenAIMaxRetries
	case retries < 0:
		retries = 0
	}
	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(retries),
		option.WithRequestTimeout(timeout),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	} else {
		opts = append(opts, option.WithBaseURL("https://api.openai.com/v1/"))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	p.timeout = timeout
	p.client = openai.NewClient(opts...)
	return p
}

// Complete asks for a chat completion and returns the first choice's text.
func (p *OpenAI) Complete(ctx context.Context, req Request) (string, error) {
	res, err := p.client.Chat.Completions.New(ctx, p.params(req))
	if err != nil {
		return "", p.fail(ctx, "chat", err)
	}
	if len(res.Choices) == 0 {
		return "", &UpstreamError{Op: "chat", Err: errors.New("the answer has no choices")}
	}
	return res.Choices[0].Message.Content, nil
}

// Stream asks for a streamed chat completion and calls onToken with each
// content delta, in order. It returns the text of the deltas onToken
// accepted; on failure that text comes with the error.
func (p *OpenAI) Stream(ctx context.Context, req Request, onToken func(token string) error) (string, error) {
	stream := p.client.Chat.Completions.NewStreaming(ctx, p.params(req))
	defer stream.Close()
	var out strings.Builder
	for stream.Next() {
		chunk := stream.Current()
		if len(chunk.Choices) == 0 {
			continue
		}
		tok := chunk.Choices[0].Delta.Content
		if tok == "" {
			continue
		}
		if onToken != nil {
			if err := onToken(tok); err != nil {
				return out.String(), err
			}
		}
		out.WriteString(tok)
	}
	if err := stream.Err(); err != nil {
		return out.String(), p.fail(ctx, "chat stream", err)
	}
	if err := ctx.Err(); err != nil {
		return out.String(), context.Cause(ctx)
	}
	return out.String(), nil
}

// Transcribe sends audio to the transcriptions endpoint as a multipart
// upload whose file name carries the sniffed type ("audio.ogg" for Ogg/Opus
// voice notes, .mp3, .wav, .webm, .m4a, .flac…), since the API picks the
// decoder from the file name.
func (p *OpenAI) Transcribe(ctx context.Context, audio Audio) (string, error) {
	mime, ext := SniffAudio(audio.Data)
	if ext == "" {
		mime, ext = audioTypeFromMIME(audio.MIME)
	}
	res, err := p.client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File:  openai.File(bytes.NewReader(audio.Data), "audio"+ext, mime),
		Model: p.transcribeModel,
	})
	if err != nil {
		return "", p.fail(ctx, "transcription", err)
	}
	return strings.TrimSpace(res.Text), nil
}

// params builds the chat completion request: the system prompt first as a
// system message, then the turns in order, images as data URLs.
func (p *OpenAI) params(req Request) openai.ChatCompletionNewParams {
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Turns)+1)
	if req.SystemPrompt != "" {
		msgs = append(msgs, openai.SystemMessage(req.SystemPrompt))
	}
	for _, t := range req.Turns {
		switch t.Role {
		case RoleSystem:
			msgs = append(msgs, openai.SystemMessage(t.Text))
		case RoleAssistant:
			msgs = append(msgs, openai.AssistantMessage(t.Text))
		default:
			msgs = append(msgs, userMessage(t))
		}
	}
	model := req.Model
	if model == "" {
		model = p.model
	}
	params := openai.ChatCompletionNewParams{Messages: msgs, Model: model}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	return params
}

func userMessage(t Turn) openai.ChatCompletionMessageParamUnion {
	if len(t.Images) == 0 {
		return openai.UserMessage(t.Text)
	}
	parts := make([]openai.ChatCompletionContentPartUnionParam, 0, len(t.Images)+1)
	if t.Text != "" {
		parts = append(parts, openai.TextContentPart(t.Text))
	}
	for _, img := range t.Images {
		mime := img.MIME
		if mime == "" {
			mime, _, _ = DescribeImage(img.Data)
		}
		parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{
			URL: "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(img.Data),
		}))
	}
	return openai.UserMessage(parts)
}

// fail turns an SDK error into the provider's error: the context's cause
// when the caller's ctx is done, else an *UpstreamError with the HTTP status
// and a message scrubbed of the API key.
func (p *OpenAI) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	ue := &UpstreamError{Op: op, Err: err}
	if errors.Is(err, context.DeadlineExceeded) {
		ue.Err = fmt.Errorf("timed out after %v: %w", p.timeout, err)
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		ue.StatusCode = apiErr.StatusCode
		if apiErr.Response != nil {
			ue.RetryAfter = retryAfter(apiErr.Response.Header.Get("Retry-After"), time.Now())
		}
		if msg := strings.TrimSpace(apiErr.Message); msg != "" {
			ue.Err = &apiMessageError{msg: truncate(msg, 300), err: err}
		}
	}
	if p.apiKey != "" && strings.Contains(ue.Err.Error(), p.apiKey) {
		ue.Err = &apiMessageError{msg: strings.ReplaceAll(ue.Err.Error(), p.apiKey, "[redacted]"), err: err}
	}
	return ue
}

// retryAfter reads a Retry-After value, delay-seconds or an HTTP date, as a
// wait from now; zero when it is absent, malformed or already past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSeconds) * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// maxRetryAfterSeconds keeps an absurd Retry-After from overflowing a
// Duration; the pipeline caps what it honours far below this.
const maxRetryAfterSeconds = 1 << 30

// apiMessageError carries the API's own error message (or a redacted
// message) while keeping the SDK error reachable with errors.As.
type apiMessageError struct {
	msg string
	err error
}

func (e *apiMessageError) Error() string { return e.msg }
func (e *apiMessageError) Unwrap() error { return e.err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
