package ai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/semaphore"

	"github.com/parley-dev/parley/ai/internal/pdf"
)

// ErrBadPDF reports a document that cannot be read as a PDF.
var ErrBadPDF = errors.New("ai: not a readable PDF")

// Refusals of the reading bounds below; both match ErrBadPDF too, since to
// the client such a file is as unreadable as a broken one.
var (
	ErrPDFTooLarge = fmt.Errorf("%w: its streams decode to more than 32 MiB", ErrBadPDF)
	ErrPDFTimeout  = fmt.Errorf("%w: it took more than 10 seconds to read", ErrBadPDF)
)

// Bounds on reading one PDF. A file of a few KB can hold streams that
// inflate to gigabytes, so the file size cap says nothing about the cost of
// reading it: decoded bytes are counted instead, reading stops at a
// deadline, and at most pdfParallel documents are read at once so that
// several hostile files cannot add up. pdfMaxPages bounds the pages read
// when the caller sets no page limit; pdfMaxText bounds the text collected
// when it sets no character limit.
const (
	pdfTimeout  = 10 * time.Second
	pdfParallel = 2
	pdfMaxPages = 10000
	pdfMaxText  = 4 << 20
)

// pdfMaxDecoded is a variable only so that the fuzz target can lower it:
// refusing a bomb means decoding up to the limit, which instrumented code
// does a hundred times slower, and the logic is the same at 1 MiB.
var pdfMaxDecoded int64 = 32 << 20

// pdfSlots is process-wide: memory and CPU are.
var pdfSlots = semaphore.NewWeighted(pdfParallel)

// ExtractPDFText is ExtractPDFTextContext without a context.
func ExtractPDFText(data []byte, maxPages, maxChars int) (text string, truncated bool, err error) {
	return ExtractPDFTextContext(context.Background(), data, maxPages, maxChars)
}

// ExtractPDFTextContext returns the text of the first maxPages pages of a
// PDF, cut to maxChars characters (runes); maxPages or maxChars <= 0 means
// no limit of that kind (at most 10000 pages are read in any case).
//
// When something was left out, truncated is true and text ends with a
// marker the model can read, such as
// "\n[truncated: first 20 of 57 pages]" or
// "\n[truncated: first 10000 characters]".
// A readable PDF without text (e.g. a scan) gives "" and no error.
// Input that is not a readable PDF fails with an error matching ErrBadPDF;
// panics of the PDF library are recovered into that error. A document whose
// streams decode to more than 32 MiB fails with ErrPDFTooLarge, one still
// being read after 10 seconds with ErrPDFTimeout. It waits for one of two
// reading slots first; a ctx that ends while waiting returns ctx's error.
func ExtractPDFTextContext(ctx context.Context, data []byte, maxPages, maxChars int) (text string, truncated bool, err error) {
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return "", false, fmt.Errorf("%w: missing %%PDF- header", ErrBadPDF)
	}
	if err := pdfSlots.Acquire(ctx, 1); err != nil {
		return "", false, err
	}
	deadline := time.Now().Add(pdfTimeout)
	type result struct {
		text      string
		truncated bool
		err       error
	}
	done := make(chan result, 1)
	go func() {
		defer pdfSlots.Release(1)
		var r result
		r.text, r.truncated, r.err = extractPDF(ctx, data, maxPages, maxChars, deadline)
		done <- r
	}()
	// Every read of the document checks the deadline, so reading ends on
	// its own; the backstop only answers the caller should some loop of
	// the library spin without reading. That goroutine then keeps its slot
	// until it ends: a third such file waits instead of piling up.
	backstop := time.NewTimer(time.Until(deadline) + time.Second)
	defer backstop.Stop()
	select {
	case r := <-done:
		return r.text, r.truncated, r.err
	case <-backstop.C:
		return "", false, ErrPDFTimeout
	}
}

// extractPDF does the reading for ExtractPDFTextContext, in bounds.
func extractPDF(ctx context.Context, data []byte, maxPages, maxChars int, deadline time.Time) (text string, truncated bool, err error) {
	var r *pdf.Reader
	defer func() {
		if p := recover(); p != nil {
			text, truncated, err = "", false, pdfError(r, fmt.Errorf("%v", p))
		}
	}()
	r, err = pdf.NewReaderLimited(bytes.NewReader(data), int64(len(data)),
		pdf.Limits{MaxDecoded: pdfMaxDecoded, Deadline: deadline, Ctx: ctx})
	if err != nil {
		return "", false, pdfError(r, err)
	}
	limit := maxPages
	if limit <= 0 || limit > pdfMaxPages {
		limit = pdfMaxPages
	}
	root := r.Trailer().Key("Root").Key("Pages")
	if root.IsNull() {
		return "", false, pdfError(r, errors.New("no page tree"))
	}
	pages, more := pageLeaves(root, limit)
	var b strings.Builder
	runes := 0 // in b
	cut := false
	for _, p := range pages {
		// Raw text shrinks when cleaned (runs of spaces), so a page may
		// give a few times maxChars before enough is kept; past that the
		// page is not read further.
		budget := pdfMaxText - b.Len()
		if maxChars > 0 {
			budget = min(budget, 4*(maxChars-runes)+4096)
		}
		budget = max(budget, 1) // 0 would mean no limit
		pt, err := pdf.Page{V: p}.GetPlainText(nil, budget)
		if err != nil || r.LimitErr() != nil {
			return "", false, pdfError(r, err)
		}
		if len(pt) >= budget {
			cut = true
		}
		if s := cleanText(pt); s != "" {
			if b.Len() > 0 {
				b.WriteString("\n\n")
				runes += 2
			}
			b.WriteString(s)
			runes += utf8.RuneCountInString(s)
		}
		if (maxChars > 0 && runes > maxChars) || cut {
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
	switch {
	case maxChars > 0 && runes > maxChars:
		text = cutRunes(text, maxChars)
		notes = append(notes, fmt.Sprintf("first %d characters", maxChars))
	case cut:
		notes = append(notes, fmt.Sprintf("first %d characters", runes))
	}
	if len(notes) > 0 {
		return text + "\n[truncated: " + strings.Join(notes, " / ") + "]", true, nil
	}
	return text, false, nil
}

// pdfError classifies a reading failure: a bound that was hit (seen by the
// reader even when the library swallowed the error) wins over err.
func pdfError(r *pdf.Reader, err error) error {
	if r != nil && r.LimitErr() != nil {
		err = r.LimitErr()
	}
	switch {
	case errors.Is(err, pdf.ErrTooLarge):
		return fmt.Errorf("%w (%v)", ErrPDFTooLarge, err)
	case errors.Is(err, pdf.ErrTimeout):
		return ErrPDFTimeout
	case err == nil:
		return ErrBadPDF
	}
	return fmt.Errorf("%w: %v", ErrBadPDF, err)
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
