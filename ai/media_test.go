package ai

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
)

const fox = "The quick brown fox jumps over the lazy dog"

// makePDF renders a real PDF with one line of text per page.
func makePDF(t testing.TB, pages ...string) []byte {
	t.Helper()
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetFont("Helvetica", "", 12)
	cp1252 := doc.UnicodeTranslatorFromDescriptor("") // core fonts are WinAnsi
	for _, text := range pages {
		doc.AddPage()
		doc.Cell(0, 10, cp1252(text))
	}
	var buf bytes.Buffer
	if err := doc.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestExtractPDFText(t *testing.T) {
	text, truncated, err := ExtractPDFText(makePDF(t, fox+"."), 10, 10000)
	if err != nil || truncated {
		t.Fatalf("ExtractPDFText: truncated=%v err=%v", truncated, err)
	}
	if !strings.Contains(normalize(text), fox) {
		t.Fatalf("text %q does not contain the sentence", text)
	}

	pages := make([]string, 5)
	for i := range pages {
		pages[i] = fmt.Sprintf("Page %d says %s", i+1, fox)
	}
	doc := makePDF(t, pages...)

	all, truncated, err := ExtractPDFText(doc, 0, 0)
	if err != nil || truncated {
		t.Fatalf("no limits: truncated=%v err=%v", truncated, err)
	}
	for _, p := range pages {
		if !strings.Contains(normalize(all), p) {
			t.Fatalf("missing %q in %q", p, all)
		}
	}
	if strings.Index(all, "Page 1") > strings.Index(all, "Page 5") {
		t.Fatal("pages out of order")
	}

	t.Run("by pages", func(t *testing.T) {
		text, truncated, err := ExtractPDFText(doc, 2, 0)
		if err != nil || !truncated {
			t.Fatalf("truncated=%v err=%v", truncated, err)
		}
		n := normalize(text)
		if !strings.Contains(n, pages[0]) || !strings.Contains(n, pages[1]) || strings.Contains(n, "Page 3") {
			t.Fatalf("wrong pages kept: %q", text)
		}
		if !strings.HasSuffix(text, "\n[truncated: first 2 of 5 pages]") {
			t.Fatalf("missing marker: %q", text)
		}
	})

	t.Run("by chars", func(t *testing.T) {
		text, truncated, err := ExtractPDFText(doc, 0, 30)
		if err != nil || !truncated {
			t.Fatalf("truncated=%v err=%v", truncated, err)
		}
		body, marker, ok := strings.Cut(text, "\n[truncated: ")
		if !ok || marker != "first 30 characters]" {
			t.Fatalf("missing marker: %q", text)
		}
		if utf8.RuneCountInString(body) != 30 || !strings.HasPrefix(all, body) {
			t.Fatalf("kept %q, want the first 30 characters of %q", body, all)
		}
	})

	t.Run("both", func(t *testing.T) {
		text, truncated, _ := ExtractPDFText(doc, 3, 10)
		if !truncated || !strings.HasSuffix(text, "[truncated: first 3 of 5 pages / first 10 characters]") {
			t.Fatalf("got %q", text)
		}
	})

	t.Run("accents", func(t *testing.T) {
		text, _, err := ExtractPDFText(makePDF(t, "Olá, quero um orçamento até amanhã"), 1, 0)
		if err != nil || normalize(text) != "Olá, quero um orçamento até amanhã" {
			t.Fatalf("got %q, %v", text, err)
		}
	})

	t.Run("no text", func(t *testing.T) {
		text, truncated, err := ExtractPDFText(makePDF(t, ""), 10, 100)
		if err != nil || truncated || text != "" {
			t.Fatalf("empty page: %q %v %v", text, truncated, err)
		}
	})
}

func TestExtractPDFTextGarbage(t *testing.T) {
	good := makePDF(t, fox)
	cases := map[string][]byte{
		"empty":          nil,
		"text":           []byte("hello, this is not a pdf"),
		"png":            []byte("\x89PNG\r\n\x1a\n"),
		"header only":    []byte("%PDF-1.4\n"),
		"truncated":      good[:len(good)/2],
		"no eof marker":  good[:len(good)-8],
		"corrupt middle": append(append(append([]byte{}, good[:200]...), bytes.Repeat([]byte{0xff}, 300)...), good[500:]...),
		"bad startxref":  []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\nstartxref\n999999\n%%EOF\n"),
		"tiny":           []byte("%PDF-1.7\n%%EOF"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := ExtractPDFText(data, 10, 1000)
			if !errors.Is(err, ErrBadPDF) {
				t.Fatalf("error = %v, want ErrBadPDF", err)
			}
		})
	}
}

// rawPDF assembles a PDF from numbered object bodies (object i+1 is
// objs[i]) with a correct cross-reference table.
func rawPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func TestExtractPDFTextHostileTrees(t *testing.T) {
	content := "BT /F1 12 Tf 72 712 Td (Hello from a hand made PDF) Tj ET"
	page := "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
	font := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
	stream := fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
	cases := map[string]struct {
		doc  []byte
		want string
	}{
		"plain": {rawPDF("<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, stream, font), "Hello from a hand made PDF"},
		// A page tree that contains itself: the library's own Page(n) loops forever on it.
		"self cycle": {rawPDF("<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 5 >>", page, stream, font), "Hello from a hand made PDF"},
		"huge count": {rawPDF("<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R 3 0 R 3 0 R] /Count 2000000000 >>", page, stream, font), "Hello from a hand made PDF"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			var text string
			var err error
			go func() {
				defer close(done)
				text, _, err = ExtractPDFText(c.doc, 3, 1000)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ExtractPDFText did not return")
			}
			if err != nil || !strings.Contains(text, c.want) {
				t.Fatalf("got %q, %v; want %q", text, err, c.want)
			}
		})
	}
}

func FuzzExtractPDFText(f *testing.F) {
	good := makePDF(f, fox)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 1 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\nstartxref\n9\n%%EOF\n"))
	f.Add([]byte("%PDF-1.7\n%%EOF"))
	f.Add([]byte("not a pdf"))
	for _, bomb := range pdfBombs() {
		f.Add(bomb)
	}
	// A smaller decoding limit keeps each input fast under the fuzzer's
	// instrumentation; TestExtractPDFTextBombs covers the real one.
	limit := pdfMaxDecoded
	pdfMaxDecoded = 1 << 20
	f.Cleanup(func() { pdfMaxDecoded = limit })
	f.Fuzz(func(t *testing.T, data []byte) {
		text, truncated, err := ExtractPDFText(data, 3, 2000)
		if err != nil && (text != "" || truncated) {
			t.Fatal("text returned with an error")
		}
		if !utf8.ValidString(text) {
			t.Fatal("invalid UTF-8 in the text")
		}
	})
}

func TestDescribeImage(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	encode := func(f func(*bytes.Buffer) error) []byte {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	small := image.NewPaletted(image.Rect(0, 0, 32, 16), color.Palette{color.Black, color.White})
	cases := []struct {
		name, mime, text string
		data             []byte
	}{
		{"png", "image/png", "Image: PNG, 640x480", encode(func(b *bytes.Buffer) error { return png.Encode(b, img) })},
		{"jpeg", "image/jpeg", "Image: JPEG, 640x480", encode(func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) })},
		{"gif", "image/gif", "Image: GIF, 32x16", encode(func(b *bytes.Buffer) error { return gif.Encode(b, small, nil) })},
		{"webp lossy", "image/webp", "Image: WEBP, 300x200", webpHeader("VP8 ", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x2c, 0x01, 0xc8, 0x00})},
		// VP8L: width-1 = 99 and height-1 = 49 packed in 14-bit fields.
		{"webp lossless", "image/webp", "Image: WEBP, 100x50", webpHeader("VP8L", []byte{0x2f, 0x63, 0x40, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})},
		{"webp extended", "image/webp", "Image: WEBP, 1920x1080", webpHeader("VP8X", []byte{0x10, 0, 0, 0, 0x7f, 0x07, 0x00, 0x37, 0x04, 0x00})},
		{"bmp without size", "image/bmp", "Image: BMP", []byte("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mime, text, err := DescribeImage(c.data)
			if err != nil || mime != c.mime || text != c.text {
				t.Fatalf("DescribeImage = %q, %q, %v; want %q, %q", mime, text, err, c.mime, c.text)
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("plain text"), []byte("%PDF-1.4"), []byte("RIFF\x00\x00\x00\x00WEBPVP8 ")} {
		if _, _, err := DescribeImage(bad); !errors.Is(err, ErrUnsupportedMedia) {
			t.Fatalf("DescribeImage(%q) error = %v, want ErrUnsupportedMedia", bad, err)
		}
	}
}

// FuzzDescribeImage: any bytes give a description or an error matching
// ErrUnsupportedMedia, never a panic, and never a size beyond 50 megapixels.
func FuzzDescribeImage(f *testing.F) {
	for _, bomb := range imageBombs() {
		f.Add(bomb)
	}
	f.Add(pngHeader(640, 480))
	f.Add(jpegHeader(640, 480))
	f.Add(gifHeader(32, 16))
	f.Add(webpHeader("VP8L", []byte{0x2f, 0x63, 0x40, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}))
	f.Add([]byte("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mime, text, err := DescribeImage(data)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedMedia) || mime != "" || text != "" {
				t.Fatalf("DescribeImage = %q, %q, %v", mime, text, err)
			}
			return
		}
		var w, h int64
		if _, err := fmt.Sscanf(text[strings.LastIndex(text, " ")+1:], "%dx%d", &w, &h); err == nil && w*h > maxImagePixels {
			t.Fatalf("DescribeImage accepted %dx%d", w, h)
		}
		if !strings.HasPrefix(mime, "image/") || !strings.HasPrefix(text, "Image: ") {
			t.Fatalf("DescribeImage = %q, %q", mime, text)
		}
	})
}

func webpHeader(chunk string, payload []byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBP" + chunk + "\x0a\x00\x00\x00")
	return append(b, payload...)
}

func TestSniffAudio(t *testing.T) {
	cases := []struct {
		name, data, mime, ext string
	}{
		{"ogg opus", "OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead", "audio/ogg", ".ogg"},
		{"mp3 id3", "ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg", ".mp3"},
		{"mp3 frame", "\xff\xfb\x90\x64\x00", "audio/mpeg", ".mp3"},
		{"wav", "RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav", ".wav"},
		{"webm", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio/webm", ".webm"},
		{"matroska", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "audio/webm", ".webm"},
		{"m4a", "\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "audio/mp4", ".m4a"},
		{"mp4 isom", "\x00\x00\x00\x1cftypisom\x00\x00\x02\x00", "audio/mp4", ".m4a"},
		{"flac", "fLaC\x00\x00\x00\x22", "audio/flac", ".flac"},
		{"amr", "#!AMR\n", "audio/amr", ".amr"},
		{"aac", "\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac", ".aac"},
		{"unknown", "\x00\x01\x02\x03", "", ""},
		{"png is not audio", "\x89PNG\r\n\x1a\n", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mime, ext := SniffAudio([]byte(c.data))
			if mime != c.mime || ext != c.ext {
				t.Fatalf("SniffAudio = %q, %q; want %q, %q", mime, ext, c.mime, c.ext)
			}
		})
	}
}
