package web_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-pdf/fpdf"

	"github.com/parley-dev/parley/ai"
)

const procSentence = "Parley invoice 4711 is due on the fifth of March"

// procPDF renders a real one-page PDF holding text.
func procPDF(t *testing.T, text string) []byte {
	t.Helper()
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetFont("Helvetica", "", 12)
	doc.AddPage()
	doc.Cell(0, 10, text)
	var buf bytes.Buffer
	if err := doc.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// procPNG encodes a w×h PNG.
func procPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// procOgg is the start of an Ogg/Opus voice note (WhatsApp .oga).
var procOgg = append([]byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead"), make([]byte, 64)...)

func procSquash(s string) string { return strings.Join(strings.Fields(s), " ") }

// procExtracted returns the lead's first message, which must be its only
// user message, and its extracted_text ("" when null).
func procExtracted(t *testing.T, e *env, lead string) (obj, string) {
	t.Helper()
	msgs := procLeadMessages(t, e, lead)
	if len(msgs) == 0 || msgs[0]["role"] != "user" {
		t.Fatalf("lead %s has messages %v, want its user message first", lead, msgs)
	}
	text, _ := msgs[0]["extracted_text"].(string)
	return msgs[0], text
}

// TestProcessPDF: a real PDF's text is extracted into extracted_text and
// reaches the model with the caption.
func TestProcessPDF(t *testing.T) {
	p := &procProvider{}
	media := newProcMedia(t, map[string]procFile{"/contrato.pdf": {contentType: "application/pdf", body: procPDF(t, procSentence)}})
	e := newEnvWith(t, envOpts{Provider: p})
	u := media.URL + "/contrato.pdf"
	res := procProcess(t, e, procMsg(e, "lead-pdf", "segue o contrato", obj{"message_type": "pdf", "url": u}))
	msg, text := procExtracted(t, e, "lead-pdf")
	if !strings.Contains(procSquash(text), procSentence) {
		t.Errorf("extracted_text = %q, want it to hold %q", text, procSentence)
	}
	if msg["url"] != u || msg["message_type"] != "pdf" || msg["content"] != "segue o contrato" || msg["id"] != res.MessageID {
		t.Errorf("stored message = %v", msg)
	}
	reqs := p.Requests()
	if len(reqs) != 1 {
		t.Fatalf("provider calls = %d, want 1", len(reqs))
	}
	last := reqs[0].Turns[len(reqs[0].Turns)-1]
	for name, s := range map[string]string{"UserText": reqs[0].UserText, "last turn": last.Text} {
		if !strings.Contains(procSquash(s), procSentence) || !strings.Contains(s, "segue o contrato") {
			t.Errorf("%s = %q, want the caption and the PDF's text", name, s)
		}
	}
	if res.Response == nil || !strings.Contains(procSquash(*res.Response), procSentence) {
		t.Errorf("response = %v", res.Response)
	}
	// A PDF without caption is valid too.
	procProcess(t, e, procMsg(e, "lead-pdf2", "", obj{"message_type": "pdf", "url": u}))
	if _, text := procExtracted(t, e, "lead-pdf2"); !strings.Contains(procSquash(text), procSentence) {
		t.Errorf("uncaptioned PDF extracted_text = %q", text)
	}
}

// TestProcessImage: an image is described (format and size) in
// extracted_text and given to the model as vision input.
func TestProcessImage(t *testing.T) {
	p := &procProvider{}
	pic := procPNG(t, 3, 2)
	media := newProcMedia(t, map[string]procFile{"/pic": {contentType: "application/octet-stream", body: pic}})
	e := newEnvWith(t, envOpts{Provider: p})
	procProcess(t, e, procMsg(e, "lead-img", "o que é isto?", obj{"message_type": "image", "url": media.URL + "/pic"}))
	_, text := procExtracted(t, e, "lead-img")
	if !strings.Contains(text, "PNG") || !strings.Contains(text, "3x2") {
		t.Errorf("extracted_text = %q, want PNG and 3x2", text)
	}
	reqs := p.Requests()
	if len(reqs) != 1 {
		t.Fatalf("provider calls = %d, want 1", len(reqs))
	}
	last := reqs[0].Turns[len(reqs[0].Turns)-1]
	if len(last.Images) != 1 || last.Images[0].MIME != "image/png" || !bytes.Equal(last.Images[0].Data, pic) {
		t.Errorf("last turn images = %d (%+v), want the PNG's bytes as image/png", len(last.Images), last.Images)
	}
	if !strings.Contains(reqs[0].UserText, "o que é isto?") || last.Role != ai.RoleUser {
		t.Errorf("last turn = %+v, UserText %q", last, reqs[0].UserText)
	}
}

// TestProcessAudioBuiltin: the builtin provider cannot transcribe, so the
// audio is answered and extracted_text says no transcription was available.
func TestProcessAudioBuiltin(t *testing.T) {
	media := newProcMedia(t, map[string]procFile{"/voice.oga": {contentType: "audio/ogg", body: procOgg}})
	e := newEnv(t)
	res := procProcess(t, e, procMsg(e, "lead-aud", "", obj{"message_type": "audio", "url": media.URL + "/voice.oga"}))
	if res.Response == nil || *res.Response == "" || res.ResponseMessageID == nil {
		t.Errorf("audio with the builtin provider: %+v, want an answer", res)
	}
	if _, text := procExtracted(t, e, "lead-aud"); !strings.Contains(strings.ToLower(text), "no transcription") {
		t.Errorf("extracted_text = %q, want a note that no transcription was available", text)
	}
}

// TestProcessAudioTranscript: the voice note reaches Transcribe, and the
// transcript is stored as extracted_text before the model runs.
func TestProcessAudioTranscript(t *testing.T) {
	const transcript = "quero encomendar dois bolos de chocolate"
	var e *env
	var seen atomic.Value // extracted_text as the store held it during Complete
	p := &procProvider{
		transcribe: func(ctx context.Context, a ai.Audio) (string, error) { return transcript, nil },
		complete: func(ctx context.Context, n int, req ai.Request) (string, error) {
			page, err := e.tenant.LeadMessages(ctx, "lead-voice", 50, nil, nil)
			if err != nil {
				return "", err
			}
			if len(page.Messages) > 0 && page.Messages[0].ExtractedText != nil {
				seen.Store(*page.Messages[0].ExtractedText)
			}
			return "Anotado: " + req.UserText, nil
		},
	}
	media := newProcMedia(t, map[string]procFile{"/voice": {contentType: "application/octet-stream", body: procOgg}})
	e = newEnvWith(t, envOpts{Provider: p})
	res := procProcess(t, e, procMsg(e, "lead-voice", "", obj{"message_type": "audio", "url": media.URL + "/voice"}))
	if got, _ := seen.Load().(string); got != transcript {
		t.Errorf("during Complete the stored extracted_text was %q, want the transcript", got)
	}
	if _, text := procExtracted(t, e, "lead-voice"); text != transcript {
		t.Errorf("extracted_text = %q, want %q", text, transcript)
	}
	p.mu.Lock()
	audios := p.audios
	p.mu.Unlock()
	if len(audios) != 1 || !bytes.Equal(audios[0].Data, procOgg) || audios[0].MIME != "audio/ogg" {
		t.Errorf("Transcribe got %d audios (%+v), want the Ogg voice note as audio/ogg", len(audios), audios)
	}
	if res.Response == nil || *res.Response != "Anotado: "+transcript {
		t.Errorf("response = %v, want the transcript answered", res.Response)
	}
}

// TestProcessMediaFailures: media that cannot be fetched or read is a clear
// error naming url (502 for a remote failure, 400 for bad content), the
// lead's message is stored anyway, and the model is not called.
func TestProcessMediaFailures(t *testing.T) {
	big := bytes.Repeat([]byte("%PDF-"), (16<<20)/5+1) // just over the 16 MiB cap
	files := map[string]procFile{
		"/gone.pdf":    {status: http.StatusNotFound, body: []byte("not here")},
		"/broken.ogg":  {status: http.StatusInternalServerError},
		"/garbage.pdf": {contentType: "application/pdf", body: []byte("%PDF-1.7\nthis is not really a pdf\x00\xff")},
		"/text.pdf":    {contentType: "application/pdf", body: []byte("<html>Login required</html>")},
		"/notimage":    {contentType: "image/png", body: []byte("GIF? no, plain text")},
		"/big-length.pdf": {handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big)
		}},
		"/big-chunked.pdf": {handler: func(w http.ResponseWriter, r *http.Request) {
			for chunk := range slices.Chunk(big, 1<<20) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}},
	}
	media := newProcMedia(t, files)
	p := &procProvider{}
	e := newEnvWith(t, envOpts{Provider: p})
	cases := []struct {
		name, path, kind string
		status           int
	}{
		{"404", "/gone.pdf", "pdf", http.StatusBadGateway},
		{"500", "/broken.ogg", "audio", http.StatusBadGateway},
		{"garbage pdf", "/garbage.pdf", "pdf", http.StatusBadRequest},
		{"html as pdf", "/text.pdf", "pdf", http.StatusBadRequest},
		{"text as image", "/notimage", "image", http.StatusBadRequest},
		{"too large, announced", "/big-length.pdf", "pdf", http.StatusBadRequest},
		{"too large, chunked", "/big-chunked.pdf", "pdf", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead := "lead-" + strings.ReplaceAll(tc.name, " ", "-")
			lead = strings.ReplaceAll(lead, ",", "")
			u := media.URL + tc.path
			r := e.do(http.MethodPost, "/ai/process", procMsg(e, lead, "caption", obj{"message_type": tc.kind, "url": u}))
			if tc.status == http.StatusBadGateway {
				wantProblem(t, r, tc.status, "UPSTREAM_ERROR")
			} else {
				wantFields(t, r, "url")
			}
			msg, text := procExtracted(t, e, lead)
			if msg["url"] != u || msg["message_type"] != tc.kind || msg["status"] != "delivered" || text != "" {
				t.Errorf("stored message = %v", msg)
			}
			if n := len(procLeadMessages(t, e, lead)); n != 1 {
				t.Errorf("lead has %d messages, want 1", n)
			}
			if media.Hits(tc.path) == 0 {
				t.Error("the media URL was never fetched")
			}
		})
	}
	if p.Calls() != 0 {
		t.Errorf("the provider was called %d times for unreadable media", p.Calls())
	}
}

// TestProcessMediaRetry: a keyed media request that failed upstream is
// finished by its retry once the media is reachable, without a second copy.
func TestProcessMediaRetry(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	doc := procPDF(t, procSentence)
	media := newProcMedia(t, map[string]procFile{"/flaky.pdf": {handler: func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(doc)
	}}})
	p := &procProvider{}
	e := newEnvWith(t, envOpts{Provider: p})
	body := procMsg(e, "lead-flaky", "", obj{"message_type": "pdf", "url": media.URL + "/flaky.pdf", "external_id": "wamid.flaky"})
	wantProblem(t, e.do(http.MethodPost, "/ai/process", body), http.StatusBadGateway, "UPSTREAM_ERROR")
	fail.Store(false)
	res := procProcess(t, e, body)
	msgs := procLeadMessages(t, e, "lead-flaky")
	if len(msgs) != 2 || msgs[0]["id"] != res.MessageID || msgs[1]["role"] != "assistant" {
		t.Fatalf("messages after the retry = %v", msgs)
	}
	if text, _ := msgs[0]["extracted_text"].(string); !strings.Contains(procSquash(text), procSentence) || p.Calls() != 1 {
		t.Errorf("extracted_text = %q, %d provider calls", text, p.Calls())
	}
}
