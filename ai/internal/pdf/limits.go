package pdf

// Parley's additions to the library: limits on what reading one untrusted
// document may cost. The upstream code trusts numbers found in the file (a
// table size, a field width, a stream's decoded length); every such place
// is patched (marked "parley:") to stay within the bounds below.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

var (
	// ErrTooLarge reports a document whose streams decode to more than
	// Limits.MaxDecoded bytes, or whose structure (a table, an array, a
	// token, the operand stack) goes past the fixed bounds below.
	ErrTooLarge = errors.New("pdf: document too large to read")
	// ErrTimeout reports a document still being read at its deadline, or
	// whose context was cancelled.
	ErrTimeout = errors.New("pdf: reading took too long")
)

// Fixed structural bounds. Real documents stay far below them; they exist
// so that a number or a run of bytes in a hostile file cannot make the
// reader allocate without bound.
const (
	maxToken     = 1 << 20 // bytes of one string, name or keyword token
	maxArray     = 1 << 20 // elements of one array
	maxDictKeys  = 1 << 16 // keys of one dictionary
	maxStack     = 1 << 16 // operands waiting for an operator
	maxColumns   = 1 << 20 // PNG predictor row width
	maxXrefWidth = 8       // bytes of one field of a cross-reference stream
	minXrefRoom  = 1 << 12 // objects always allowed, whatever the file size
)

// Limits bounds the reading of one document; zero fields mean no bound.
type Limits struct {
	// MaxDecoded is the number of decoded stream bytes allowed in all:
	// every stream the reader decodes (content, fonts, object and
	// cross-reference streams) counts, each time it is decoded.
	MaxDecoded int64
	// Deadline ends reading: past it every read fails with ErrTimeout.
	Deadline time.Time
	// Ctx, when cancelled, ends reading like the deadline.
	Ctx context.Context
}

// budget is a document's running account against its Limits. A Reader is
// used by one goroutine, so it needs no lock. err is sticky: once a limit
// is hit, every later read fails the same way, so the library's habit of
// recovering from parse errors and carrying on cannot undo the refusal.
type budget struct {
	Limits
	used int64
	err  error
}

func (b *budget) check() error {
	if b == nil || b.err != nil {
		return b.errOrNil()
	}
	if !b.Deadline.IsZero() && time.Now().After(b.Deadline) {
		b.err = ErrTimeout
	} else if b.Ctx != nil && b.Ctx.Err() != nil {
		b.err = fmt.Errorf("%w: %w", ErrTimeout, b.Ctx.Err())
	}
	return b.err
}

func (b *budget) errOrNil() error {
	if b == nil {
		return nil
	}
	return b.err
}

// NewReaderLimited is NewReader with limits; Reader.LimitErr tells whether
// a failure (or a suspiciously short result) came from one of them.
func NewReaderLimited(f io.ReaderAt, size int64, lim Limits) (*Reader, error) {
	b := &budget{Limits: lim}
	r, err := newReader(&limitedReaderAt{f, b}, size, b)
	if b.err != nil {
		return nil, b.err
	}
	return r, err
}

// LimitErr returns ErrTooLarge or ErrTimeout (wrapped) when reading hit a
// limit, else nil.
func (r *Reader) LimitErr() error { return r.lim.errOrNil() }

// DecodedBytes is the number of stream bytes decoded so far.
func (r *Reader) DecodedBytes() int64 {
	if r.lim == nil {
		return 0
	}
	return r.lim.used
}

// maxObjects bounds cross-reference tables: no document holds more objects
// than it has bytes (each object takes a few even when compressed), so a
// /Size or subsection start beyond that is a lie that would only allocate.
func (r *Reader) maxObjects() int {
	return int(max(r.end, minXrefRoom))
}

// limitedReaderAt makes the raw reads of the file obey the deadline.
type limitedReaderAt struct {
	f io.ReaderAt
	b *budget
}

func (l *limitedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := l.b.check(); err != nil {
		return 0, err
	}
	return l.f.ReadAt(p, off)
}

// countedStream counts a stream's decoded bytes against the budget and
// obeys the deadline, even at end of stream (the lexer calls Read again and
// again there, so a loop that reads nothing still meets the deadline).
type countedStream struct {
	rd io.Reader
	b  *budget
}

func (c *countedStream) Read(p []byte) (int, error) {
	if err := c.b.check(); err != nil {
		return 0, err
	}
	// Never decode more than the budget has left (plus one byte, to tell
	// "exactly used up" from "over"), so one Read cannot overshoot by a
	// whole buffer.
	if c.b.MaxDecoded > 0 {
		p = p[:min(int64(len(p)), c.b.MaxDecoded-c.b.used+1)]
	}
	n, err := c.rd.Read(p)
	c.b.used += int64(n)
	if c.b.MaxDecoded > 0 && c.b.used > c.b.MaxDecoded {
		c.b.err = fmt.Errorf("%w: streams decode to more than %d bytes", ErrTooLarge, c.b.MaxDecoded)
		return n, c.b.err
	}
	return n, err
}

// tooLarge panics the way the library reports parse errors, with an error
// that still matches ErrTooLarge.
func tooLarge(format string, args ...any) {
	panic(fmt.Errorf("%w: "+format, append([]any{ErrTooLarge}, args...)...))
}

// push appends to a token being lexed, refusing tokens longer than maxToken.
func (b *buffer) push(tmp []byte, c ...byte) []byte {
	if len(tmp)+len(c) > maxToken {
		tooLarge("a token longer than %d bytes", maxToken)
	}
	return append(tmp, c...)
}

// errEnough stops a text walk once the caller has all the text it wants.
var errEnough = errors.New("pdf: enough text")

// panicError turns a recovered panic into an error, keeping error values
// as they are (upstream flattened them to text, so ErrTooLarge and
// ErrTimeout could no longer be matched with errors.Is).
func panicError(r any) error {
	if err, ok := r.(error); ok {
		return err
	}
	return fmt.Errorf("%v", r)
}
