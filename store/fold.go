package store

import (
	"database/sql/driver"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"modernc.org/sqlite"
)

// parley_fold on SQLite: what a search compares when it scans rows rather
// than look them up in the FTS5 trigram tables (searches shorter than three
// characters, the lead list, assistants' names). SQLite's own LIKE ignores
// ASCII case only, so "ão" missed "JOÃO", the lead list's "jose" missed
// "José" and "elo" missed an assistant named "Élodie", which the trigram
// tables (remove_diacritics) and PostgreSQL's parley_fold find.
//
// The function is registered with the driver, once, before any connection is
// opened (package initialisation): modernc.org/sqlite adds it to every
// connection it opens afterwards, the writer's, the readers' and the
// checkpointer's alike. No schema object may use it (an index, a generated
// column, a trigger): a database must stay readable by the sqlite3 shell and
// by other programs, which do not have it.
//
// Deterministic, so SQLite may factor a call on a constant out of a scan.
// VolatileArgs: the argument is read in place, without a copy per row; fold
// keeps no reference to it past its return (the driver copies the result,
// which may be the argument itself, into SQLite before the call returns).
func init() {
	sqlite.MustRegisterFunction("parley_fold", &sqlite.FunctionImpl{
		NArgs:         1,
		Deterministic: true,
		VolatileArgs:  true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			if s, ok := args[0].(string); ok {
				return fold(s), nil
			}
			// NULL stays NULL (PostgreSQL's is STRICT); numbers and blobs
			// are returned as they are, so that LIKE converts them to text
			// as it did before (a meta value may be a number).
			return args[0], nil
		},
	})
}

// fold is parley_fold: s lower-cased with its diacritics removed, exactly
// PostgreSQL's pgFoldNFD — canonical decomposition (NFD), the combining marks
// of U+0300–U+036F dropped, then lower() — so that the SQLite scans and
// PostgreSQL fold alike. On the letters of Latin-1 and Latin Extended-A it is
// also pgFoldMap, and what FTS5's remove_diacritics folds (but ſ, which FTS5
// case-folds to s). Like those two, and unlike unaccent, it leaves letters
// without a decomposition as they are: ß, æ, ø, ł, đ stay.
//
// This runs once per row scanned for every text beyond ASCII that a scan
// compares (sqliteLike passes it no other; a short search reads every
// message of the tenant), so the common cases cost no normalisation: ASCII text is lower-cased in place (returned as is when it
// has no capital), and letters below U+0370 (Latin, IPA and the combining
// marks themselves) are looked up in foldLow. Any other character with a
// decomposition or a combining class (Greek or Vietnamese accented letters,
// Hangul, Hebrew points…) sends the whole text through foldNFD, which
// normalises it; the result is the same either way (TestFoldFastPath).
func fold(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r < foldLowEnd:
			b.WriteString(foldLow[r])
		case r == utf8.RuneError && n == 1:
			b.WriteByte(c) // not UTF-8: kept, as norm keeps it
		default:
			// A starter without decomposition is its own NFD, and
			// canonical ordering moves only marks: lower-casing it is all.
			// (norm gives Hangul syllables, decomposed by rule, no
			// Decomposition.)
			if p := norm.NFD.PropertiesString(s[i:]); p.CCC() != 0 || p.Decomposition() != nil || hangulFirst <= r && r <= hangulLast {
				return foldNFD(s)
			}
			b.WriteRune(unicode.ToLower(r))
		}
		i += n
	}
	return b.String()
}

// foldLowEnd bounds the characters fold looks up in foldLow: below it, a
// character's decomposition is itself or a starter followed by marks of
// U+0300–U+036F (which are dropped), so no mark remains for canonical
// ordering to move and folding character by character is exact.
const foldLowEnd = 0x370

// The precomposed Hangul syllables, U+AC00–U+D7A3.
const hangulFirst, hangulLast = 0xAC00, 0xD7A3

// foldLow holds fold of each character below foldLowEnd.
var foldLow = func() (t [foldLowEnd]string) {
	for r := range rune(foldLowEnd) {
		t[r] = foldNFD(string(r))
	}
	return t
}()

// foldNFD is fold by definition: NFD, marks U+0300–U+036F dropped, lower().
// Bytes that are not UTF-8 are kept as they are.
func foldNFD(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for i := 0; i < len(d); {
		r, n := utf8.DecodeRuneInString(d[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteByte(d[i])
		case r >= 0x300 && r <= 0x36f:
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		i += n
	}
	return b.String()
}
