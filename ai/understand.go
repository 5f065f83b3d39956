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
// image itself as vision input), storing the text as extracted_text. The
// fetched bytes count against the media memory budget until release is
// called: at once for audio and PDFs, whose text is all that is kept; after
// the provider call for images, which go to it as they are. release is
// never nil.
func (p *Pipeline) understand(ctx context.Context, ten *store.Tenant, msg *store.Message) (images []Image, release func(), err error) {
	release = func() {}
	if msg.MessageType == "text" || msg.URL == nil || *msg.URL == "" {
		return nil, release, nil
	}
	if msg.ExtractedText != nil && msg.MessageType != "image" {
		return nil, release, nil // already understood (a retried request)
	}
	if p.fetch == nil {
		return nil, release, &MediaError{Field: "url", Err: errors.New("media fetching is not configured")}
	}
	data, contentType, held, err := p.fetch(ctx, *msg.URL)
	if err != nil {
		return nil, release, &MediaError{Field: "url", Upstream: errors.Is(err, netguard.ErrUpstream), Err: err}
	}
	text, images, err := p.mediaText(ctx, ten, msg.MessageType, data, contentType)
	if len(images) == 0 || err != nil {
		held() // only the text is kept
	} else {
		release = held
	}
	if err != nil || !mediaKinds[msg.MessageType] {
		return nil, release, err
	}
	if err := ten.SetExtractedText(ctx, msg.ID, text); err != nil {
		release()
		return nil, func() {}, err
	}
	msg.ExtractedText = &text
	return images, release, nil
}

// mediaKinds are the message types whose media is turned into text.
var mediaKinds = map[string]bool{"image": true, "audio": true, "pdf": true}

// mediaText turns fetched media into text (and, for images, vision input);
// "" for types that are never fetched.
func (p *Pipeline) mediaText(ctx context.Context, ten *store.Tenant, kind string, data []byte, contentType string) (string, []Image, error) {
	switch kind {
	case "image":
		mime, desc, err := DescribeImage(data)
		if err != nil {
			return "", nil, &MediaError{Field: "url", Err: fmt.Errorf("the url does not point to a readable image: %w", err)}
		}
		return desc, []Image{{MIME: mime, Data: data}}, nil
	case "audio":
		mime, _ := SniffAudio(data)
		if mime == "" {
			mime = contentType
		}
		release, err := p.slot(ctx, ten)
		if err != nil {
			return "", nil, err
		}
		defer release()
		text, err := p.provider.Transcribe(ctx, Audio{Data: data, MIME: mime})
		release()
		if errors.Is(err, ErrNoTranscription) {
			return noTranscriptionNote, nil, nil
		}
		return text, nil, err
	case "pdf":
		text, _, err := ExtractPDFTextContext(ctx, data, p.cfg.MaxPDFPages, p.cfg.MaxPDFChars)
		if errors.Is(err, ErrBadPDF) {
			return "", nil, &MediaError{Field: "url", Err: fmt.Errorf("the url does not point to a readable PDF: %w", err)}
		} else if err != nil {
			return "", nil, err // the request ended while waiting for a reading slot
		}
		if text == "" {
			text = noPDFTextNote
		}
		return text, nil, nil
	}
	return "", nil, nil // documents and videos from operators: nothing to read
}
