package ai

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-dev/parley/ai/internal/pdf"
)

// ErrBadPDF reports a document that cannot be read as a PDF.
var ErrBadPDF = errors.New("ai: not a readable PDF")

// pdfMaxPages bounds the pages read when the caller sets no page limit.
const pdfMaxPages = 10000

// ExtractPDFText returns the text of the first maxPages pages of a PDF,
// cut to maxChars characters (runes); maxPages or maxChars <= 0 means no
// limit of that kind (at most 10000 pages are read in any case).
//
// When something was left out, truncated is true and text ends with a
// marker the model can read, such as
// "\n[truncated: first 20 of 57 pages]" or
// "\n[truncated: first 10000 characters]".
// A readable PDF without text (e.g. a scan) gives "" and no error.
// Input that is not a readable PDF fails with an error matching ErrBadPDF;
// panics of the PDF library are recovered into that error.
func ExtractPDFText(data []byte, maxPages, maxChars int) (text string, truncated bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			text, truncated, err = "", false, fmt.Errorf("%w: %v", ErrBadPDF, r)
		}
	}()
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return "", false, fmt.Errorf("%w: missing %%PDF- header", ErrBadPDF)
	}
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrBadPDF, err)
	}
	limit := maxPages
	if limit <= 0 || limit > pdfMaxPages {
		limit = pdfMaxPages
	}
	root := r.Trailer().Key("Root").Key("Pages")
	if root.IsNull() {
		return "", false, fmt.Errorf("%w: no page tree", ErrBadPDF)
	}
	pages, more := pageLeaves(root, limit)
	var b strings.Builder
	for _, p := range pages {
		pt, err := pdf.Page{V: p}.GetPlainText(nil)
		if err != nil {
			return "", false, fmt.Errorf("%w: %v", ErrBadPDF, err)
		}
		if s := cleanText(pt); s != "" {
			if b.Len() > 0 {
				b.WriteString("\n\n")
			}
			b.WriteString(s)
		}
		if maxChars > 0 && utf8.RuneCountInString(b.String()) > maxChars {
			break
		}
	}
	text = b.String()
	var notes []string
	if more {
		note := fmt.Sprintf("first %d pages", len(pages))
		if total := int(root.Key("Count").Int64()); total > len(pages) {
			note = fmt.Sprintf("first %d of %d pages", len(pages), total)
		}
		notes = append(notes, note)
	}
	if maxChars > 0 && utf8.RuneCountInString(text) > maxChars {
		text = cutRunes(text, maxChars)
		notes = append(notes, fmt.Sprintf("first %d characters", maxChars))
	}
	if len(notes) > 0 {
		return text + "\n[truncated: " + strings.Join(notes, " / ") + "]", true, nil
	}
	return text, false, nil
}

// pageLeaves walks the page tree depth first and returns up to limit page
// objects in document order, and whether more pages exist. The walk is
// bounded in depth and in nodes visited, so a malicious cyclic tree cannot
// make it loop (the library's own Page(n) lookup has no such bound); such a
// tree may yield the same page more than once, which is harmless.
func pageLeaves(root pdf.Value, limit int) (pages []pdf.Value, more bool) {
	const maxDepth = 32
	budget := 4*limit + 1024
	var walk func(v pdf.Value, depth int) bool // false = stop
	walk = func(v pdf.Value, depth int) bool {
		budget--
		if budget < 0 {
			return false
		}
		if depth > maxDepth {
			return true // too deep (a cycle?): skip this branch
		}
		kids := v.Key("Kids")
		if v.Key("Type").Name() == "Pages" || kids.Kind() == pdf.Array {
			for i := 0; i < kids.Len(); i++ {
				if !walk(kids.Index(i), depth+1) {
					return false
				}
			}
			return true
		}
		if v.Kind() != pdf.Dict {
			return true // junk entry in Kids: skip it
		}
		if len(pages) == limit {
			more = true
			return false
		}
		pages = append(pages, v)
		return true
	}
	walk(root, 0)
	return pages, more
}

var (
	spaceRun = regexp.MustCompile(`[ \t\f\v\x{00a0}]+`)
	blankRun = regexp.MustCompile(`\n{3,}`)
)

// cleanText makes extracted text valid UTF-8 without control characters,
// collapses runs of spaces and blank lines, and trims each line.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r) || r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
	s = spaceRun.ReplaceAllString(s, " ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	s = blankRun.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.TrimSpace(s)
}

func cutRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
