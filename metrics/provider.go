package metrics

import (
	"context"
	"time"

	"github.com/parley-dev/parley/ai"
)

// Provider wraps an AI provider and records every call.
type Provider struct {
	ai.Provider
	M *Metrics
}

// Complete records a blocking completion.
func (p Provider) Complete(ctx context.Context, req ai.Request) (string, error) {
	start := time.Now()
	s, err := p.Provider.Complete(ctx, req)
	p.M.ProviderCall("complete", err, time.Since(start))
	return s, err
}

// Stream records a streamed completion.
func (p Provider) Stream(ctx context.Context, req ai.Request, onToken func(string) error) (string, error) {
	start := time.Now()
	s, err := p.Provider.Stream(ctx, req, onToken)
	p.M.ProviderCall("stream", err, time.Since(start))
	return s, err
}

// Transcribe records a transcription.
func (p Provider) Transcribe(ctx context.Context, a ai.Audio) (string, error) {
	start := time.Now()
	s, err := p.Provider.Transcribe(ctx, a)
	p.M.ProviderCall("transcribe", err, time.Since(start))
	return s, err
}
