package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// pageCursor is the keyset position behind GET /conversation's opaque cursor:
// the last conversation of the previous page, the index of the page it
// fetches, and a digest of the filters it was made for.
type pageCursor struct {
	CreatedAt int64  `json:"t"`
	ID        string `json:"i"`
	Page      int    `json:"p"`
	Filters   string `json:"f"`
}

// errBadCursor covers every cursor this server did not make for this tenant
// and these filters: forged, altered, foreign or stale.
var errBadCursor = errors.New("invalid cursor")

// cursorKey derives the tenant's cursor signing key from its postback secret
// (domain-separated, so neither can stand in for the other). A cursor is
// therefore useless to another tenant.
func cursorKey(tenantSecret string) []byte {
	m := hmac.New(sha256.New, []byte(tenantSecret))
	m.Write([]byte("parley conversation cursor v1"))
	return m.Sum(nil)
}

// filterDigest names the filters a cursor belongs to. The parts are hashed
// as a JSON array, so that no two different lists of filters share an input
// (joined with a separator, ("a\x00b", "") and ("a", "b\x00") would).
func filterDigest(parts ...string) string {
	b, _ := json.Marshal(parts)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func encodeCursor(key []byte, c pageCursor) string {
	body, _ := json.Marshal(c)
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// decodeCursor verifies and reads a cursor; it never panics on any input.
// Only the exact string encodeCursor makes is accepted: base64's other
// spellings of the same bytes (newlines, which the decoder skips, or
// non-zero unused bits in the last character) are refused.
func decodeCursor(key []byte, s string) (pageCursor, error) {
	var c pageCursor
	body64, sig64, ok := strings.Cut(s, ".")
	if !ok || len(s) > 1024 {
		return c, errBadCursor
	}
	body, err1 := base64.RawURLEncoding.DecodeString(body64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || base64.RawURLEncoding.EncodeToString(body) != body64 ||
		base64.RawURLEncoding.EncodeToString(sig) != sig64 {
		return c, errBadCursor
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:16], sig) {
		return c, errBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&c); err != nil || c.ID == "" || c.Page < 1 {
		return c, errBadCursor
	}
	return c, nil
}
