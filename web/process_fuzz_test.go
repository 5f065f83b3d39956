package web

import (
	"errors"
	"testing"
)

// FuzzProcessDecoder throws arbitrary bytes at the /ai/process decoder: it
// must never panic, every rejection must be a 400 problem, and whatever it
// accepts must satisfy API.md §3.5's rules.
func FuzzProcessDecoder(f *testing.F) {
	for _, seed := range []string{
		`{"tenant_id":"t","lead_id":"5511999999999@s.whatsapp.net","role":"user","content":"oi","message_type":"text"}`,
		`{"tenant_id":"t","lead_id":"l","role":"user","message_type":"pdf","url":"https://example.com/a.pdf"}`,
		`{"tenant_id":"t","lead_id":"l","role":"user","content":"x","message_type":"text","debounce":true,"postback_url":"https://example.com/cb"}`,
		`{"tenant_id":"t","lead_id":"l","role":"user","message_type":"image","url":"http://127.0.0.1/x"}`,
		`{"tenant_id":"t","lead_id":"l","role":"robot","message_type":"video"}`,
		`{"tenant_id":1,"lead_id":[],"debounce":"yes"}`,
		`{"tenant_id":"t","lead_id":"a b","role":"user","content":"","message_type":"text"}`,
		`null`, `[]`, `{`, ``, `{"external_id":"` + string(make([]byte, 300)) + `"}`,
	} {
		f.Add([]byte(seed), "", false)
		f.Add([]byte(seed), "key-1", true)
	}
	f.Fuzz(func(t *testing.T, body []byte, idemKey string, allowPrivate bool) {
		b, err := decodeProcess(body, idemKey, allowPrivate)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.Status != 400 {
				t.Fatalf("rejection %v is not a 400 problem", err)
			}
			return
		}
		switch {
		case b.TenantID == "" || !leadIDPattern.MatchString(b.LeadID):
			t.Fatalf("accepted tenant %q lead %q", b.TenantID, b.LeadID)
		case !processRoles[b.Role] || !processTypes[b.MessageType]:
			t.Fatalf("accepted role %q type %q", b.Role, b.MessageType)
		case b.MessageType == "text" && b.Content == "":
			t.Fatal("accepted a text message without content")
		case b.MessageType != "text" && urlProblem(b.URL, allowPrivate) != "":
			t.Fatalf("accepted media url %q", b.URL)
		case b.Debounce && urlProblem(b.PostbackURL, allowPrivate) != "":
			t.Fatalf("accepted postback_url %q", b.PostbackURL)
		case len(b.ExternalID) > maxKeyLength || len(idemKey) > maxKeyLength || len(b.Content) > maxContentBytes:
			t.Fatal("accepted an oversized field")
		}
	})
}
