package ai

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
)

// Notes stored as extracted_text when there is nothing better to say: the
// model and the operator both see why a media message has no text.
const (
	noTranscriptionNote = "[audio: no transcription available]"
	noPDFTextNote       = "[pdf: no extractable text, perhaps a scan]"
)

// MediaError reports a media URL that could not be turned into text. Field is
// the request field to blame; Upstream tells a remote failure (502) from a
// bad URL or unreadable content (400).
type MediaError struct {
	Field    string
	Upstream bool
	Err      error
}

func (e *MediaError) Error() string { return "ai: media: " + e.Err.Error() }
func (e *MediaError) Unwrap() error { return e.Err }

// understand fetches a media message's URL and turns it into text before the
// AI runs (audio → transcript, PDF → text, image → format and size, plus the
// image itself as vision input), storing the text as extracted_text.
func (p *Pipeline) understand(ctx context.Context, ten *store.Tenant, msg *store.Message) ([]Image, error) {
	if msg.MessageType == "text" || msg.URL == nil || *msg.URL == "" {
		return nil, nil
	}
	if msg.ExtractedText != nil && msg.MessageType != "image" {
		return nil, nil // already understood (a retried request)
	}
	if p.fetch == nil {
		return nil, &MediaError{Field: "url", Err: errors.New("media fetching is not configured")}
	}
	data, contentType, err := p.fetch(ctx, *msg.URL)
	if err != nil {
		return nil, &MediaError{Field: "url", Upstream: errors.Is(err, netguard.ErrUpstream), Err: err}
	}
	var text string
	var images []Image
	switch msg.MessageType {
	case "image":
		mime, desc, err := DescribeImage(data)
		if err != nil {
			return nil, &MediaError{Field: "url", Err: fmt.Errorf("the url does not point to a readable image: %w", err)}
		}
		text, images = desc, []Image{{MIME: mime, Data: data}}
	case "audio":
		mime, _ := SniffAudio(data)
		if mime == "" {
			mime = contentType
		}
		release, err := p.slot(ctx, ten)
		if err != nil {
			return nil, err
		}
		defer release()
		text, err = p.provider.Transcribe(ctx, Audio{Data: data, MIME: mime})
		release()
		if errors.Is(err, ErrNoTranscription) {
			text = noTranscriptionNote
		} else if err != nil {
			return nil, err
		}
	case "pdf":
		text, _, err = ExtractPDFTextContext(ctx, data, p.cfg.MaxPDFPages, p.cfg.MaxPDFChars)
		if errors.Is(err, ErrBadPDF) {
			return nil, &MediaError{Field: "url", Err: fmt.Errorf("the url does not point to a readable PDF: %w", err)}
		} else if err != nil {
			return nil, err // the request ended while waiting for a reading slot
		}
		if text == "" {
			text = noPDFTextNote
		}
	default:
		return nil, nil // documents and videos from operators are never fetched
	}
	if err := ten.SetExtractedText(ctx, msg.ID, text); err != nil {
		return nil, err
	}
	msg.ExtractedText = &text
	return images, nil
}
