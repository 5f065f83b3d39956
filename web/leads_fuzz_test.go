package web

import (
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLeadDecoder throws arbitrary bodies at decodeLead: it must never panic,
// every failure must be a 400 Problem, and whatever it accepts must obey the
// rules of API.md §3.1 (own id pattern, field lengths, phone and email shape).
// The seeds run as a plain test under `go test`.
func FuzzLeadDecoder(f *testing.F) {
	seeds := []string{
		`{"id":"5511999999999@s.whatsapp.net","name":"Ana","phone":"+55 11 99999-9999","email":"ana@example.com","company":"ACME","meta":{"a":1}}`,
		`{"name":"  Ana  ","meta":{"k":null}}`,
		`{"id":"a/b"}`,
		`{"id":"has space"}`,
		`{"id":""}`,
		`{"id":"` + strings.Repeat("x", 129) + `"}`,
		`{"id":"` + strings.Repeat("x", 128) + `"}`,
		`{"phone":"abc"}`,
		`{"phone":"+1 (555) 010-0000"}`,
		`{"phone":"12-"}`,
		`{"phone":"00("}`, // found by the fuzzer: matched the pattern with two digits
		`{"phone":"(--)"}`,
		`{"phone":""}`,
		`{"email":"not an email"}`,
		`{"email":"Ana <ana@example.com>"}`,
		`{"name":` + `"` + strings.Repeat("é", 300) + `"}`,
		`{"name":1,"phone":true,"meta":"x"}`,
		`{"NAME":"upper","Id":"x"}`,
		`{"meta":{"n":1e400}}`,
		`{"name":"\u0000\ud800"}`,
		"{\"name\":\"\xff\xfe\"}",
		`{`, `[]`, `null`, `"x"`, `{"name":{}}`, ``, `   `, `{}`,
		strings.Repeat(`{"meta":`, 50) + `{}` + strings.Repeat(`}`, 50),
		`{"meta":` + strings.Repeat(`{"a":`, 16) + `1` + strings.Repeat(`}`, 17),
		`{"meta":` + strings.Repeat(`{"a":`, 15) + `[1]` + strings.Repeat(`}`, 16),
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, creating bool) {
		in, err := decodeLead(body, creating)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.Status != http.StatusBadRequest || p.Code != CodeValidation {
				t.Fatalf("decodeLead(%q) error %v, want a 400 VALIDATION_ERROR Problem", body, err)
			}
			for _, fe := range p.Fields {
				if fe.Field == "" || fe.Message == "" {
					t.Fatalf("decodeLead(%q): field error %+v lacks a field or a message", body, fe)
				}
			}
			return
		}
		if in.ID != nil {
			if !creating {
				t.Fatalf("decodeLead(%q, update) accepted an id %q", body, *in.ID)
			}
			if !ownID.MatchString(*in.ID) {
				t.Fatalf("decodeLead(%q) accepted id %q, which breaks the 1-128 [A-Za-z0-9._:@+-] rule", body, *in.ID)
			}
		}
		for name, v := range map[string]*string{"name": in.Name, "phone": in.Phone, "email": in.Email, "company": in.Company} {
			if v == nil {
				continue
			}
			if len(*v) > 512 {
				t.Fatalf("decodeLead(%q) accepted %s of %d bytes", body, name, len(*v))
			}
			if !utf8.ValidString(*v) {
				t.Fatalf("decodeLead(%q) accepted %s %q, not valid UTF-8", body, name, *v)
			}
			if strings.TrimSpace(*v) != *v {
				t.Fatalf("decodeLead(%q) kept surrounding space in %s %q", body, name, *v)
			}
		}
		if in.Phone != nil && *in.Phone != "" {
			digits := len(strings.Map(keepDigits, *in.Phone))
			if !phoneShape.MatchString(*in.Phone) || digits < 3 {
				t.Fatalf("decodeLead(%q) accepted phone %q", body, *in.Phone)
			}
		}
		if d := metaDepth(map[string]any(in.Meta)); d > 16 {
			t.Fatalf("decodeLead(%q) accepted meta nested %d deep", body, d)
		}
		if in.Email != nil && *in.Email != "" {
			if a, err := mail.ParseAddress(*in.Email); err != nil || a.Address != *in.Email {
				t.Fatalf("decodeLead(%q) accepted email %q", body, *in.Email)
			}
		}
	})
}

// metaDepth counts the levels of objects and arrays in v.
func metaDepth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, metaDepth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, metaDepth(e))
		}
		return d + 1
	}
	return 0
}

func keepDigits(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

// The rules restated from API.md §3.1, independent of the code under test.
var (
	ownID      = regexp.MustCompile(`^[A-Za-z0-9._:@+-]{1,128}$`)
	phoneShape = regexp.MustCompile(`^\+?[0-9 ().-]{3,32}$`)
)
