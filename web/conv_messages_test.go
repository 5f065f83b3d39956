package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestConvMessageListSeedShape: GET /backend/messages is a bare array, oldest
// first, of items with exactly seeds/003's members (url only on media); lead
// matches id, phone or email, remote_jid is an alias (API.md §3.4).
func TestConvMessageListSeedShape(t *testing.T) {
	e := newEnv(t)
	lead := convLead(t, e, obj{"id": "5511988887777@s.whatsapp.net", "phone": "+5511988887777", "email": "ana@example.com"})
	other := convLead(t, e, obj{"id": "other", "phone": "+5511900001111"})
	ch := convChannel(t, e, "wa", "")

	// A gateway may send a url with a text message: a text item still has none.
	r := e.do(http.MethodPost, "/ai/process", obj{"tenant_id": e.tenant.ID(), "lead_id": lead, "role": "user",
		"content": "Olá, gostaria de mais informações", "message_type": "text", "url": "https://example.com/ignored.jpg"})
	if r.Status != http.StatusOK {
		t.Fatalf("POST /ai/process = %d: %s", r.Status, r.Body)
	}
	convTick()
	media := wantData[obj](t, e.do(http.MethodPost, "/backend/messages/media",
		obj{"lead_id": lead, "type": "image", "url": "https://storage.example.com/abc123.jpg"}), http.StatusCreated).Data
	convTick()
	onCh := convSend(t, e, obj{"lead_id": lead, "content": "no canal", "channel_id": ch, "role": "assistant"})
	convTick()
	otherOnCh := convSend(t, e, obj{"lead_id": other, "content": "outro", "channel_id": ch, "role": "assistant"})
	convProcess(t, e, other, "user", "not mine", "")

	list := convBareArray(t, e.do(http.MethodGet, "/backend/messages"+convQuery("lead", lead), nil))
	if len(list) != 4 {
		t.Fatalf("messages = %v, want 4", list)
	}
	wantContent := []string{"Olá, gostaria de mais informações", "You said: Olá, gostaria de mais informações", "", "no canal"}
	wantRole := []string{"user", "assistant", "human", "assistant"}
	wantStatus := []string{"delivered", "sent", "pending", "pending"}
	for i, m := range list {
		if m["message_type"] == "text" {
			convWantKeys(t, "text item", m, "id", "content", "role", "message_type", "timestamp", "status")
		} else {
			convWantKeys(t, "media item", m, "id", "content", "role", "message_type", "url", "timestamp", "status")
		}
		if m["content"] != wantContent[i] || m["role"] != wantRole[i] || m["status"] != wantStatus[i] {
			t.Errorf("item %d = %v, want %q by %s, %s", i, m, wantContent[i], wantRole[i], wantStatus[i])
		}
		if !timestampRE.MatchString(str(t, m, "timestamp")) || !uuidv7RE.MatchString(str(t, m, "id")) {
			t.Errorf("item %d id/timestamp = %v", i, m)
		}
		if i > 0 && str(t, m, "timestamp") < str(t, list[i-1], "timestamp") {
			t.Errorf("item %d is older than item %d: not oldest first", i, i-1)
		}
	}
	if m := list[2]; m["id"] != media["id"] || m["message_type"] != "image" || m["url"] != "https://storage.example.com/abc123.jpg" {
		t.Errorf("media item = %v", m)
	}
	ids := convIDs(t, list)

	same := []string{
		convQuery("lead", "5511988887777@s.whatsapp.net"),
		convQuery("lead", "+5511988887777"),
		convQuery("lead", "ana@example.com"),
		convQuery("remote_jid", "5511988887777@s.whatsapp.net"),
		convQuery("remote_jid", "+5511988887777"),
	}
	for _, q := range same {
		t.Run(q, func(t *testing.T) {
			if got := convIDs(t, convBareArray(t, e.do(http.MethodGet, "/backend/messages"+q, nil))); !slices.Equal(got, ids) {
				t.Errorf("ids = %v, want %v", got, ids)
			}
		})
	}

	filters := []struct {
		query string
		want  []string
	}{
		{convQuery("channel_id", ch), []string{str(t, onCh, "id"), str(t, otherOnCh, "id")}},
		{convQuery("channel_id", ch, "lead", lead), []string{str(t, onCh, "id")}},
		{convQuery("channel_id", ch, "remote_jid", "+5511900001111"), []string{str(t, otherOnCh, "id")}},
		{convQuery("lead", lead, "limit", "2"), ids[:2]},
		{convQuery("lead", lead, "limit", "2", "offset", "1"), ids[1:3]},
		{convQuery("lead", lead, "offset", "3"), ids[3:]},
		{convQuery("lead", lead, "offset", "4"), nil},
		{convQuery("lead", "nobody@example.com"), nil},
		{convQuery("channel_id", "0190a0b0-0000-7000-8000-000000000000"), nil},
	}
	for _, tc := range filters {
		t.Run(tc.query, func(t *testing.T) {
			got := convIDs(t, convBareArray(t, e.do(http.MethodGet, "/backend/messages"+tc.query, nil)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}

	bad := []struct {
		query  string
		fields []string
	}{
		{"", []string{"lead"}},
		{convQuery("limit", "5"), []string{"lead"}},
		{convQuery("lead", lead, "limit", "101"), []string{"limit"}},
		{convQuery("lead", lead, "limit", "0"), []string{"limit"}},
		{convQuery("lead", lead, "offset", "-2"), []string{"offset"}},
		{convQuery("limit", "500", "offset", "-1"), []string{"lead", "limit", "offset"}},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.query, func(t *testing.T) {
			wantFields(t, e.do(http.MethodGet, "/backend/messages"+tc.query, nil), tc.fields...)
		})
	}
	// Another tenant finds nothing by the same references.
	_, otherKey := storetest.Tenant(t, e.store, "other")
	for _, q := range append(same, convQuery("channel_id", ch)) {
		if got := convBareArray(t, e.doKey(otherKey, http.MethodGet, "/backend/messages"+q, nil)); len(got) != 0 {
			t.Errorf("another tenant got %v for %s", got, q)
		}
	}
}

// convLeadPage is the body of GET /backend/messages/{lead_id}.
type convLeadPage struct {
	Success    bool  `json:"success"`
	Data       []obj `json:"data"`
	Pagination struct {
		HasMore         *bool   `json:"has_more"`
		OldestTimestamp *string `json:"oldest_timestamp"`
	} `json:"pagination"`
}

func convGetLeadPage(t *testing.T, e *env, leadID, query string) convLeadPage {
	t.Helper()
	r := e.do(http.MethodGet, "/backend/messages/"+leadID+query, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", query, r.Status, r.Body)
	}
	var p convLeadPage
	r.JSON(t, &p)
	if !p.Success || p.Pagination.HasMore == nil {
		t.Fatalf("body %s lacks success:true or pagination.has_more", r.Body)
	}
	for i := 1; i < len(p.Data); i++ {
		if str(t, p.Data[i], "timestamp") <= str(t, p.Data[i-1], "timestamp") {
			t.Errorf("page %s is not chronological at %d", query, i)
		}
	}
	if len(p.Data) > 0 && (p.Pagination.OldestTimestamp == nil || *p.Pagination.OldestTimestamp != p.Data[0]["timestamp"]) {
		t.Errorf("oldest_timestamp = %v, want the first item's %v", p.Pagination.OldestTimestamp, p.Data[0]["timestamp"])
	}
	return p
}

// TestConvLeadHistoryPaging: GET /backend/messages/{lead_id} pages a lead's
// whole history (every conversation) chronologically; before/after walk it
// with no gap and no duplicate.
func TestConvLeadHistoryPaging(t *testing.T) {
	e := newEnv(t)
	lead := convLead(t, e, obj{"id": "hist-lead"})
	ch := convChannel(t, e, "wa", "")
	var all []string
	for i := range 7 {
		body := obj{"lead_id": lead, "content": "m" + string(rune('0'+i)), "role": "assistant"}
		if i%3 == 2 {
			body["channel_id"] = ch // another conversation of the same lead
		}
		all = append(all, str(t, convSend(t, e, body), "id"))
		convTick()
	}
	convSend(t, e, obj{"lead_id": convLead(t, e, obj{"id": "someone-else"}), "content": "x"})

	full := convGetLeadPage(t, e, lead, "")
	if got := convIDs(t, full.Data); !slices.Equal(got, all) || *full.Pagination.HasMore {
		t.Fatalf("default page = %v has_more %v, want all %v and no more", got, *full.Pagination.HasMore, all)
	}
	m := full.Data[0]
	for _, k := range []string{"id", "conversation_id", "lead_id", "role", "content", "message_type", "url", "extracted_text", "status", "feedback", "timestamp"} {
		if _, ok := m[k]; !ok {
			t.Errorf("message lacks %q: %v", k, m)
		}
	}
	if m["lead_id"] != lead || m["status"] != "pending" || m["role"] != "assistant" || m["url"] != nil {
		t.Errorf("message = %v", m)
	}

	// Newest page first, then before=oldest_timestamp back to the start.
	var back [][]string
	p := convGetLeadPage(t, e, lead, convQuery("limit", "3"))
	for steps := 0; ; steps++ {
		back = append([][]string{convIDs(t, p.Data)}, back...)
		if !*p.Pagination.HasMore || steps > 5 {
			break
		}
		p = convGetLeadPage(t, e, lead, convQuery("limit", "3", "before", *p.Pagination.OldestTimestamp))
	}
	if got := slices.Concat(back...); !slices.Equal(got, all) {
		t.Errorf("walking back with before = %v, want %v", got, all)
	}
	if len(back) != 3 || !slices.Equal(back[2], all[4:]) || !slices.Equal(back[0], all[:1]) {
		t.Errorf("pages = %v, want [1 3 3] ending with the newest", back)
	}

	// Forward from the start with after = the last item's timestamp.
	var fwd []string
	p = convGetLeadPage(t, e, lead, convQuery("limit", "3", "after", "2000-01-01T00:00:00Z"))
	for steps := 0; ; steps++ {
		fwd = append(fwd, convIDs(t, p.Data)...)
		if !*p.Pagination.HasMore || steps > 5 {
			break
		}
		p = convGetLeadPage(t, e, lead, convQuery("limit", "3", "after", str(t, p.Data[len(p.Data)-1], "timestamp")))
	}
	if !slices.Equal(fwd, all) {
		t.Errorf("walking forward with after = %v, want %v", fwd, all)
	}

	// Both bounds: the newest messages strictly between them.
	between := convGetLeadPage(t, e, lead, convQuery("after", str(t, full.Data[1], "timestamp"), "before", str(t, full.Data[5], "timestamp")))
	if got := convIDs(t, between.Data); !slices.Equal(got, all[2:5]) {
		t.Errorf("between = %v, want %v", got, all[2:5])
	}
	// Bounds finer than the stored milliseconds: .mmm456 is after .mmm.
	fine := strings.TrimSuffix(str(t, full.Data[3], "timestamp"), "Z") + "456Z"
	if got := convIDs(t, convGetLeadPage(t, e, lead, convQuery("limit", "2", "before", fine)).Data); !slices.Equal(got, all[2:4]) {
		t.Errorf("before %s = %v, want %v (the message at that millisecond included)", fine, got, all[2:4])
	}
	if got := convIDs(t, convGetLeadPage(t, e, lead, convQuery("limit", "2", "after", fine)).Data); !slices.Equal(got, all[4:6]) {
		t.Errorf("after %s = %v, want %v", fine, got, all[4:6])
	}
	empty := convGetLeadPage(t, e, lead, convQuery("before", "2000-01-01T00:00:00.000Z"))
	if len(empty.Data) != 0 || *empty.Pagination.HasMore || empty.Pagination.OldestTimestamp != nil || empty.Data == nil {
		t.Errorf("empty page = %+v, want data [], has_more false, oldest_timestamp null", empty)
	}

	bad := []struct {
		query  string
		fields []string
	}{
		{convQuery("before", "yesterday"), []string{"before"}},
		{convQuery("after", "2024-13-01T00:00:00Z"), []string{"after"}},
		{convQuery("before", "2024-01-15"), []string{"before"}},
		{convQuery("before", "x", "after", "y"), []string{"before", "after"}},
		{convQuery("limit", "0"), []string{"limit"}},
		{convQuery("limit", "101"), []string{"limit"}},
		{convQuery("limit", "many", "after", "nope"), []string{"limit", "after"}},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.query, func(t *testing.T) {
			wantFields(t, e.do(http.MethodGet, "/backend/messages/"+lead+tc.query, nil), tc.fields...)
		})
	}
	wantProblem(t, e.do(http.MethodGet, "/backend/messages/no-such-lead", nil), http.StatusNotFound, "NOT_FOUND")
	_, otherKey := storetest.Tenant(t, e.store, "other")
	wantProblem(t, e.doKey(otherKey, http.MethodGet, "/backend/messages/"+lead, nil), http.StatusNotFound, "NOT_FOUND")
}
