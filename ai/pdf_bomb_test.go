package ai

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// bombStream is a page content stream whose FlateDecode data inflates to
// prefix and then n bytes of pattern repeated: a few KB in the file, n
// bytes once decoded.
func bombStream(prefix, pattern string, n int) string {
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	w.Write([]byte(prefix))
	chunk := []byte(strings.Repeat(pattern, (64<<10)/len(pattern)))
	for left := n; left > 0; left -= len(chunk) {
		w.Write(chunk[:min(left, len(chunk))])
	}
	w.Close()
	return fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes())
}

// bombPDF is a one-page PDF whose content is the given streams (an array
// of them when there are several), with a Helvetica font F1.
func bombPDF(streams ...string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"", // the page, below
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	refs := make([]string, len(streams))
	for i, s := range streams {
		objs = append(objs, s)
		refs[i] = fmt.Sprintf("%d 0 R", len(objs))
	}
	objs[2] = "<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents [" + strings.Join(refs, " ") + "] >>"
	return rawPDF(objs...)
}

// pdfBombs are the regression inputs of tracker issue 14: small files whose
// streams inflate to 64 MiB, in several shapes. They are also fuzz seeds.
func pdfBombs() map[string][]byte {
	split := make([]string, 8)
	for i := range split {
		split[i] = bombStream("", " ", 8<<20) // each stream under the cap, 64 MiB in all
	}
	return map[string][]byte{
		"spaces":          bombPDF(bombStream("", " ", 64<<20)),
		"operands":        bombPDF(bombStream("", "1 ", 64<<20)),
		"one long string": bombPDF(bombStream("BT /F1 12 Tf (", "A", 64<<20)),
		"split streams":   bombPDF(split...),
		// Object numbers from 2e9: upstream sized its table by them (80 GB).
		"xref numbers": bytes.Replace(bombPDF(bombStream("", " ", 1<<10)), []byte("xref\n0 "), []byte("xref\n2000000000 "), 1),
	}
}

// TestExtractPDFTextBombs: a PDF whose streams inflate beyond 32 MiB is
// refused as too large, and refusing it decodes and allocates far less
// than the 64 MiB it would inflate to.
func TestExtractPDFTextBombs(t *testing.T) {
	for name, doc := range pdfBombs() {
		t.Run(name, func(t *testing.T) {
			if len(doc) > 300<<10 {
				t.Fatalf("bomb is %d bytes, want a small file", len(doc))
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			text, _, err := ExtractPDFText(doc, 50, 20000)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrPDFTooLarge) || !errors.Is(err, ErrBadPDF) {
				t.Fatalf("got %d characters, error %v; want ErrPDFTooLarge", len(text), err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
				t.Errorf("refusing the bomb allocated %d MiB, want well under 64 MiB", alloc>>20)
			}
		})
	}
}

// TestExtractPDFTextManyCharacters: a page that shows 64 MiB of text is
// read only until the character limit is reached, not refused.
func TestExtractPDFTextManyCharacters(t *testing.T) {
	doc := bombPDF(bombStream("", "BT /F1 12 Tf (Parley reads only what it keeps. ) Tj ET\n", 64<<20))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	text, truncated, err := ExtractPDFText(doc, 50, 20000)
	runtime.ReadMemStats(&after)
	if err != nil || !truncated || !strings.HasPrefix(text, "Parley reads only what it keeps.") ||
		!strings.HasSuffix(text, "[truncated: first 20000 characters]") {
		t.Fatalf("got %d characters, truncated=%v, err=%v", len(text), truncated, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
		t.Errorf("reading 20000 characters allocated %d MiB, want well under 64 MiB", alloc>>20)
	}
}
