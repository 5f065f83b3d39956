package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

// agentCursorKey signs the fuzz corpus; agentOtherKey stands for another tenant.
var (
	agentCursorKey = cursorKey("whsec_fuzz-tenant-secret")
	agentOtherKey  = cursorKey("whsec_another-tenant-secret")
	agentCursorVal = pageCursor{CreatedAt: 1705312200123, ID: "0190f0a2-7c1e-7d3a-9b2c-1f2e3d4c5b6a", Page: 3,
		Filters: filterDigest("2024-01-15", "", "São", "")}
)

// agentFlip flips one bit of byte i of s.
func agentFlip(s string, i int, bit byte) string {
	b := []byte(s)
	b[i] ^= bit
	return string(b)
}

// agentBadCursors are strings that decodeCursor must refuse, built from the
// valid cursor: truncated, bit-flipped, signed by another key, re-encoded,
// garbage.
func agentBadCursors(valid string) map[string]string {
	body, sig, _ := strings.Cut(valid, ".")
	return map[string]string{
		"empty":                "",
		"dot":                  ".",
		"garbage":              "not a cursor at all",
		"no signature":         body,
		"empty signature":      body + ".",
		"no body":              "." + sig,
		"truncated by one":     valid[:len(valid)-1],
		"truncated in half":    valid[:len(valid)/2],
		"body bit flipped":     agentFlip(valid, 4, 0x01),
		"signature bit":        agentFlip(valid, len(valid)-3, 0x02),
		"last char non-canon":  valid[:len(valid)-1] + string(agentNonCanonical(valid[len(valid)-1])),
		"newline in body":      body[:5] + "\n" + body[5:] + "." + sig,
		"other key":            encodeCursor(agentOtherKey, agentCursorVal),
		"three parts":          valid + "." + sig,
		"padded":               body + "==." + sig,
		"std alphabet":         strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/",
		"long":                 strings.Repeat("A", 2000) + "." + sig,
		"page zero":            encodeCursor(agentCursorKey, pageCursor{CreatedAt: 1, ID: "x", Page: 0}),
		"no id":                encodeCursor(agentCursorKey, pageCursor{CreatedAt: 1, Page: 2}),
		"not json under a sig": agentSignRaw(agentCursorKey, []byte("[1,2,3]")),
	}
}

// agentNonCanonical returns another base64url character that decodes to
// the same bytes when it ends a 22-character (16-byte) encoding: the last
// four bits of that character are not part of the data.
func agentNonCanonical(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[i^1]
}

// agentSignRaw signs any body in the cursor format.
func agentSignRaw(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// TestAgentCursorSeeds runs the seed corpus's expectations as a plain test:
// the valid cursor round-trips, every other seed is refused.
func TestAgentCursorSeeds(t *testing.T) {
	valid := encodeCursor(agentCursorKey, agentCursorVal)
	got, err := decodeCursor(agentCursorKey, valid)
	if err != nil || !reflect.DeepEqual(got, agentCursorVal) {
		t.Fatalf("valid cursor decoded to %+v, %v", got, err)
	}
	if _, err := decodeCursor(agentOtherKey, valid); err == nil {
		t.Error("a cursor was accepted under another tenant's key")
	}
	for name, s := range agentBadCursors(valid) {
		if c, err := decodeCursor(agentCursorKey, s); err == nil {
			t.Errorf("%s: %q accepted as %+v", name, s, c)
		}
	}
	if filterDigest("a\x00b", "") == filterDigest("a", "b\x00") || filterDigest("a", "") == filterDigest("", "a") {
		t.Error("different filters share a digest")
	}
}

// FuzzDecodeCursor: decodeCursor never panics, and whatever it accepts is
// exactly what encodeCursor makes with the same key.
func FuzzDecodeCursor(f *testing.F) {
	valid := encodeCursor(agentCursorKey, agentCursorVal)
	f.Add(valid)
	f.Add(encodeCursor(agentCursorKey, pageCursor{CreatedAt: 0, ID: "<\"é\">", Page: 1, Filters: filterDigest("", "", "", "")}))
	for _, s := range agentBadCursors(valid) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(agentCursorKey, s)
		if err != nil {
			return
		}
		if again := encodeCursor(agentCursorKey, c); again != s {
			t.Fatalf("decodeCursor accepted %q, which encodeCursor does not make (it makes %q)", s, again)
		}
	})
}
