package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestProcessValidation: every rule of API.md §3.5, each bad field named in
// errors[], and nothing stored for a refused request.
func TestProcessValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		extra  obj
		fields []string
	}{
		{"role missing", obj{"role": nil}, []string{"role"}},
		{"role empty", obj{"role": ""}, []string{"role"}},
		{"role unknown", obj{"role": "bot"}, []string{"role"}},
		{"role wrong case", obj{"role": "User"}, []string{"role"}},
		{"message_type missing", obj{"message_type": nil}, []string{"message_type"}},
		{"message_type unknown", obj{"message_type": "video"}, []string{"message_type"}},
		{"text without content", obj{"content": ""}, []string{"content"}},
		{"text content missing", obj{"content": nil}, []string{"content"}},
		{"text content too long", obj{"content": strings.Repeat("a", 64<<10+1)}, []string{"content"}},
		{"image without url", obj{"message_type": "image"}, []string{"url"}},
		{"audio without url", obj{"message_type": "audio", "content": ""}, []string{"url"}},
		{"pdf empty url", obj{"message_type": "pdf", "url": ""}, []string{"url"}},
		{"pdf ftp url", obj{"message_type": "pdf", "url": "ftp://example.com/a.pdf"}, []string{"url"}},
		{"image relative url", obj{"message_type": "image", "url": "/a.png"}, []string{"url"}},
		{"audio file url", obj{"message_type": "audio", "url": "file:///etc/passwd"}, []string{"url"}},
		{"lead_id missing", obj{"lead_id": nil}, []string{"lead_id"}},
		{"lead_id with spaces", obj{"lead_id": "a lead"}, []string{"lead_id"}},
		{"lead_id too long", obj{"lead_id": strings.Repeat("x", 129)}, []string{"lead_id"}},
		{"tenant_id missing", obj{"tenant_id": nil}, []string{"tenant_id"}},
		{"debounce without postback_url", obj{"debounce": true}, []string{"postback_url"}},
		{"debounce with ftp postback_url", obj{"debounce": true, "postback_url": "ftp://example.com/cb"}, []string{"postback_url"}},
		{"debounce with relative postback_url", obj{"debounce": true, "postback_url": "/cb"}, []string{"postback_url"}},
		{"external_id too long", obj{"external_id": strings.Repeat("e", 257)}, []string{"external_id"}},
		{"everything missing", obj{"tenant_id": nil, "lead_id": nil, "role": nil, "content": nil, "message_type": nil},
			[]string{"tenant_id", "lead_id", "role", "message_type"}},
		{"many bad at once", obj{"lead_id": "", "role": "robot", "message_type": "pdf", "debounce": true},
			[]string{"lead_id", "role", "url", "postback_url"}},
		// Wrong JSON types are 400 naming the field...
		{"role a number", obj{"role": 5}, []string{"role"}},
		{"content an object", obj{"content": obj{"text": "hi"}}, []string{"content"}},
		{"debounce a string", obj{"debounce": "yes"}, []string{"debounce"}},
		{"lead_id a number", obj{"lead_id": 5511999999999}, []string{"lead_id"}},
		{"url an array", obj{"message_type": "image", "url": []string{"http://x/a.png"}}, []string{"url"}},
		// ...together with every other bad field.
		{"wrong type and missing fields", obj{"role": 1, "lead_id": nil, "message_type": nil},
			[]string{"role", "lead_id", "message_type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead := "val-" + strings.ReplaceAll(tc.name, " ", "-")
			r := e.do(http.MethodPost, "/ai/process", procMsg(e, lead, "hello", tc.extra))
			wantFields(t, r, tc.fields...)
			if procLeadExists(t, e, lead) {
				t.Errorf("a refused request created lead %s", lead)
			}
		})
	}

	for name, body := range map[string]string{"array": `[]`, "string": `"hi"`, "null": `null`, "broken": `{"role":`, "empty": ``} {
		t.Run("body "+name, func(t *testing.T) {
			wantProblem(t, e.do(http.MethodPost, "/ai/process", body), http.StatusBadRequest, "VALIDATION_ERROR")
		})
	}
}

// TestProcessTenantMismatch: a tenant_id other than the key's is 403 and
// stores nothing, even when it names a real tenant.
func TestProcessTenantMismatch(t *testing.T) {
	e := newEnv(t)
	other, _ := storetest.Tenant(t, e.store, "other")
	for _, tid := range []string{other.ID(), "0190aaaa-0000-7000-8000-000000000000", "default"} {
		r := e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-403", "hi", obj{"tenant_id": tid}))
		wantProblem(t, r, http.StatusForbidden, "FORBIDDEN")
	}
	if procLeadExists(t, e, "lead-403") {
		t.Error("a forbidden request created the lead")
	}
	if _, err := other.Lead(t.Context(), "lead-403"); err == nil {
		t.Error("a forbidden request created the lead in the other tenant")
	}
}

// TestProcessCreatesUnknownLeads: an unknown lead_id becomes a lead with that
// very id (a WhatsApp JID included), and the next message reuses its
// conversation.
func TestProcessCreatesUnknownLeads(t *testing.T) {
	e := newEnv(t)
	for _, lead := range []string{"5511999999999@s.whatsapp.net", "crm-42", "0190f3a2-1111-7abc-8def-0123456789ab", "tg:+55.11_x-y"} {
		t.Run(lead, func(t *testing.T) {
			if procLeadExists(t, e, lead) {
				t.Fatal("lead exists before the first message")
			}
			first := procProcess(t, e, procMsg(e, lead, "oi"))
			if first.LeadID != lead {
				t.Errorf("lead_id = %q, want %q", first.LeadID, lead)
			}
			got := wantData[obj](t, e.do(http.MethodGet, "/backend/leads/"+lead, nil), http.StatusOK).Data
			if got["id"] != lead {
				t.Errorf("GET lead id = %v, want %q", got["id"], lead)
			}
			second := procProcess(t, e, procMsg(e, lead, "tudo bem?"))
			if second.ConversationID != first.ConversationID {
				t.Errorf("second message opened conversation %s, want %s", second.ConversationID, first.ConversationID)
			}
			if n := len(procLeadMessages(t, e, lead)); n != 4 {
				t.Errorf("lead has %d messages, want 4 (two turns)", n)
			}
		})
	}
}

// TestProcessChannel: an unknown channel_id is 400 naming it and stores
// nothing; a real one puts the conversation on that channel.
func TestProcessChannel(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-ch", "hi", obj{"channel_id": "0190aaaa-0000-7000-8000-000000000001"}))
	wantFields(t, r, "channel_id")
	if procLeadExists(t, e, "lead-ch") {
		t.Error("a request with an unknown channel created the lead")
	}

	// Another tenant's channel is unknown here too.
	_, otherKey := storetest.Tenant(t, e.store, "other")
	foreign := wantData[obj](t, e.doKey(otherKey, http.MethodPost, "/backend/channels", obj{"name": "WA", "type": "whatsapp"}), http.StatusCreated).Data
	wantFields(t, e.do(http.MethodPost, "/ai/process", procMsg(e, "lead-ch", "hi", obj{"channel_id": foreign["id"]})), "channel_id")
	if procLeadExists(t, e, "lead-ch") {
		t.Error("a request with another tenant's channel created the lead")
	}

	ch := wantData[obj](t, e.do(http.MethodPost, "/backend/channels", obj{"name": "WA", "type": "whatsapp"}), http.StatusCreated).Data
	res := procProcess(t, e, procMsg(e, "lead-ch", "hi", obj{"channel_id": ch["id"]}))
	conv := wantData[obj](t, e.do(http.MethodGet, "/backend/conversations/"+res.ConversationID, nil), http.StatusOK).Data
	if conv["channel_id"] != ch["id"] {
		t.Errorf("conversation channel_id = %v, want %v", conv["channel_id"], ch["id"])
	}
	// Without the channel the lead gets a different thread (the default assistant's).
	plain := procProcess(t, e, procMsg(e, "lead-ch", "hi again"))
	if plain.ConversationID == res.ConversationID {
		t.Error("a message without channel_id joined the channel's conversation")
	}
}
