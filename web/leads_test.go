package web_test

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// leadKeys are the members of a lead (API.md §3.1).
var leadKeys = []string{"company", "created_at", "email", "id", "meta", "name", "phone", "updated_at"}

func checkLeadShape(t *testing.T, l obj) {
	t.Helper()
	var keys []string
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != strings.Join(leadKeys, ",") {
		t.Errorf("lead members = %v, want %v", keys, leadKeys)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if s, _ := l[k].(string); !timestampRE.MatchString(s) {
			t.Errorf("%s = %v, want RFC 3339 UTC with 0 or 3 fractional digits", k, l[k])
		}
	}
	if _, ok := l["meta"].(map[string]any); !ok {
		t.Errorf("meta = %#v, want an object", l["meta"])
	}
}

func TestLeadOwnIDAndGeneratedID(t *testing.T) {
	e := newEnv(t)
	const jid = "5511999999999@s.whatsapp.net"
	in := obj{"id": jid, "name": "Ana", "phone": "+55 11 99999-9999", "email": "ana@example.com", "company": "ACME", "meta": obj{"src": "wa"}}
	created := wantData[obj](t, e.do("POST", "/backend/leads", in), http.StatusCreated).Data
	checkLeadShape(t, created)
	got := wantData[obj](t, e.do("GET", "/backend/leads/"+url.PathEscape(jid), nil), http.StatusOK).Data
	checkLeadShape(t, got)
	for _, k := range []string{"id", "name", "phone", "email", "company"} {
		if got[k] != in[k] {
			t.Errorf("GET %s = %v, want %v", k, got[k], in[k])
		}
	}
	if got["meta"].(map[string]any)["src"] != "wa" || got["created_at"] != created["created_at"] {
		t.Errorf("GET = %v, want what POST answered %v", got, created)
	}

	gen := wantData[obj](t, e.do("POST", "/backend/leads", obj{"name": "No id"}), http.StatusCreated).Data
	checkLeadShape(t, gen)
	if id := str(t, gen, "id"); !uuidv7RE.MatchString(id) {
		t.Errorf("generated id %q is not a UUIDv7", id)
	}
	if gen["phone"] != nil || gen["email"] != nil {
		t.Errorf("unset phone/email = %v/%v, want null", gen["phone"], gen["email"])
	}

	max := strings.Repeat("a", 128)
	good := []string{max, "a", "A-Z_0.9:x@y+z", "+5511999999999"}
	for _, id := range good {
		r := e.do("POST", "/backend/leads", obj{"id": id})
		if got := str(t, wantData[obj](t, r, http.StatusCreated).Data, "id"); got != id {
			t.Errorf("own id %q came back as %q", id, got)
		}
	}
	bad := map[string]string{"space": "has space", "129 chars": max + "a", "slash": "a/b", "empty": "",
		"unicode": "açaí", "newline": "a\nb", "percent": "a%20b", "question mark": "a?b", "hash": "a#b"}
	for name, id := range bad {
		t.Run("bad id "+name, func(t *testing.T) {
			wantFields(t, e.do("POST", "/backend/leads", obj{"id": id}), "id")
		})
	}
}

func TestLeadConflicts(t *testing.T) {
	e := newEnv(t)
	_, otherKey := storetest.Tenant(t, e.store, "other")
	wantData[obj](t, e.do("POST", "/backend/leads", obj{"id": "lead-1", "phone": "+5511911112222"}), http.StatusCreated)

	p := wantProblem(t, e.do("POST", "/backend/leads", obj{"id": "lead-1"}), http.StatusConflict, "ALREADY_EXISTS")
	if !strings.Contains(p.Detail, "id") {
		t.Errorf("duplicate id detail %q does not say what clashed", p.Detail)
	}
	p = wantProblem(t, e.do("POST", "/backend/leads", obj{"phone": "+5511911112222"}), http.StatusConflict, "ALREADY_EXISTS")
	if !strings.Contains(p.Detail, "phone") {
		t.Errorf("duplicate phone detail %q does not say what clashed", p.Detail)
	}
	wantProblem(t, e.do("POST", "/backend/leads", obj{"id": "lead-2", "phone": " +5511911112222 "}), http.StatusConflict, "ALREADY_EXISTS")

	// Another tenant may reuse both the id and the phone.
	wantData[obj](t, e.doKey(otherKey, "POST", "/backend/leads", obj{"id": "lead-1", "phone": "+5511911112222"}), http.StatusCreated)

	// An update onto a taken phone is a conflict too, and changes nothing.
	l2 := wantData[obj](t, e.do("POST", "/backend/leads", obj{"id": "lead-2", "phone": "+5511933334444"}), http.StatusCreated).Data
	wantProblem(t, e.do("PUT", "/backend/leads/lead-2", obj{"phone": "+5511911112222", "name": "x"}), http.StatusConflict, "ALREADY_EXISTS")
	after := wantData[obj](t, e.do("GET", "/backend/leads/lead-2", nil), http.StatusOK).Data
	if after["phone"] != l2["phone"] || after["name"] != nil {
		t.Errorf("a refused update changed the lead: %v", after)
	}
	// Leads without a phone do not clash with each other.
	for range 3 {
		wantData[obj](t, e.do("POST", "/backend/leads", obj{"phone": ""}), http.StatusCreated)
	}
}

func TestLeadSearch(t *testing.T) {
	e := newEnv(t)
	for _, l := range []obj{
		{"name": "Ana Souza", "email": "ana@acme.com", "phone": "+5511900000001"},
		{"name": "Bruno ANA", "email": "bruno@globex.com", "phone": "+5521900000002"},
		{"name": "Carla", "email": "carla@acme.com", "phone": "+5511900000003"},
		{"name": "100% real_name", "email": "d@x.org"},
	} {
		wantData[obj](t, e.do("POST", "/backend/leads", l), http.StatusCreated)
	}
	cases := []struct {
		search string
		names  []string
	}{
		{"ana", []string{"Ana Souza", "Bruno ANA"}},
		{"ANA", []string{"Ana Souza", "Bruno ANA"}},
		{"acme.com", []string{"Ana Souza", "Carla"}},
		{"@globex", []string{"Bruno ANA"}},
		{"5511", []string{"Ana Souza", "Carla"}},
		{"+5521", []string{"Bruno ANA"}},
		{"0003", []string{"Carla"}},
		{"%", []string{"100% real_name"}},
		{"_", []string{"100% real_name"}},
		{"nobody", nil},
		{"", []string{"Ana Souza", "Bruno ANA", "Carla", "100% real_name"}},
	}
	for _, tc := range cases {
		t.Run("search "+tc.search, func(t *testing.T) {
			env := wantData[[]obj](t, e.do("GET", "/backend/leads?search="+url.QueryEscape(tc.search), nil), http.StatusOK)
			var names []string
			for _, l := range env.Data {
				names = append(names, str(t, l, "name"))
			}
			sort.Strings(names)
			want := append([]string(nil), tc.names...)
			sort.Strings(want)
			if strings.Join(names, "|") != strings.Join(want, "|") {
				t.Errorf("search %q = %v, want %v", tc.search, names, want)
			}
			if env.Pagination == nil || env.Pagination.Total != len(want) || env.Pagination.HasMore {
				t.Errorf("search %q pagination = %+v, want total %d", tc.search, env.Pagination, len(want))
			}
		})
	}
	env := wantData[[]obj](t, e.do("GET", "/backend/leads?search=a&limit=1", nil), http.StatusOK)
	if len(env.Data) != 1 || env.Pagination.Total != 4 || !env.Pagination.HasMore {
		t.Errorf("search a limit 1 = %d rows, %+v; want 1 row of total 4 with has_more", len(env.Data), env.Pagination)
	}
}

func TestLeadPagination(t *testing.T) {
	e := newEnv(t)
	const n = 7
	for i := range n {
		wantData[obj](t, e.do("POST", "/backend/leads", obj{"name": "lead " + string(rune('a'+i))}), http.StatusCreated)
	}
	all := wantData[[]obj](t, e.do("GET", "/backend/leads", nil), http.StatusOK)
	if p := all.Pagination; p == nil || p.Total != n || p.Limit != 20 || p.Offset != 0 || p.HasMore || len(all.Data) != n {
		t.Fatalf("default page = %d rows, %+v; want %d rows, limit 20", len(all.Data), all.Pagination, n)
	}
	if str(t, all.Data[0], "name") != "lead g" {
		t.Errorf("first lead = %v, want the newest (lead g)", all.Data[0]["name"])
	}
	var seen []string
	for off := 0; off < n; off += 3 {
		r := e.do("GET", "/backend/leads?limit=3&offset="+strconv.Itoa(off), nil)
		page := wantData[[]obj](t, r, http.StatusOK)
		wantLen, wantMore := min(3, n-off), off+3 < n
		if p := page.Pagination; len(page.Data) != wantLen || p.Total != n || p.Limit != 3 || p.Offset != off || p.HasMore != wantMore {
			t.Errorf("offset %d: %d rows, %+v; want %d rows, has_more %v", off, len(page.Data), p, wantLen, wantMore)
		}
		for _, l := range page.Data {
			seen = append(seen, str(t, l, "id"))
		}
	}
	for i, l := range all.Data {
		if i >= len(seen) || seen[i] != l["id"] {
			t.Fatalf("pages %v do not follow the full list order", seen)
		}
	}
	past := wantData[[]obj](t, e.do("GET", "/backend/leads?offset=100", nil), http.StatusOK)
	if len(past.Data) != 0 || past.Pagination.Total != n || past.Pagination.HasMore {
		t.Errorf("offset past the end = %v %+v", past.Data, past.Pagination)
	}
	if past.Data == nil {
		t.Errorf("an empty page must be [] not null")
	}
	wantData[[]obj](t, e.do("GET", "/backend/leads?limit=100", nil), http.StatusOK)
	wantData[[]obj](t, e.do("GET", "/backend/leads?limit=1", nil), http.StatusOK)
	for q, field := range map[string]string{"limit=0": "limit", "limit=101": "limit", "limit=-1": "limit", "limit=x": "limit",
		"offset=-1": "offset", "offset=x": "offset", "limit=1.5": "limit"} {
		t.Run(q, func(t *testing.T) {
			wantFields(t, e.do("GET", "/backend/leads?"+q, nil), field)
		})
	}
	wantFields(t, e.do("GET", "/backend/leads?limit=0&offset=-1", nil), "limit", "offset")
}

func TestLeadPartialUpdate(t *testing.T) {
	e := newEnv(t)
	l := wantData[obj](t, e.do("POST", "/backend/leads", obj{"id": "p1", "name": "Ana", "phone": "+5511955556666",
		"email": "ana@x.com", "meta": obj{"a": 1, "c": "keep"}}), http.StatusCreated).Data

	u := wantData[obj](t, e.do("PUT", "/backend/leads/p1", obj{"name": "Ana Maria"}), http.StatusOK).Data
	checkLeadShape(t, u)
	if u["name"] != "Ana Maria" || u["phone"] != l["phone"] || u["email"] != l["email"] {
		t.Errorf("name-only update = %v, want phone and email kept", u)
	}
	if u["created_at"] != l["created_at"] || str(t, u, "updated_at") < str(t, l, "updated_at") {
		t.Errorf("timestamps after update: %v, before %v", u, l)
	}

	u = wantData[obj](t, e.do("PUT", "/backend/leads/p1", obj{"meta": obj{"a": nil, "b": obj{"x": true}}}), http.StatusOK).Data
	meta := u["meta"].(map[string]any)
	if _, has := meta["a"]; has || meta["c"] != "keep" || meta["b"] == nil || len(meta) != 2 {
		t.Errorf("meta after merge = %v, want a removed, b added, c kept", meta)
	}

	u = wantData[obj](t, e.do("PUT", "/backend/leads/p1", obj{"phone": "", "company": "Globex"}), http.StatusOK).Data
	if u["phone"] != nil || u["company"] != "Globex" || u["name"] != "Ana Maria" {
		t.Errorf(`after {"phone":""}: %v, want phone null, the rest kept`, u)
	}
	// The cleared phone is free for another lead.
	wantData[obj](t, e.do("POST", "/backend/leads", obj{"phone": "+5511955556666"}), http.StatusCreated)

	// An empty body and {} change nothing.
	for _, body := range []string{"", "{}"} {
		same := wantData[obj](t, e.do("PUT", "/backend/leads/p1", body), http.StatusOK).Data
		if same["name"] != "Ana Maria" || same["company"] != "Globex" || len(same["meta"].(map[string]any)) != 2 {
			t.Errorf("PUT %q changed the lead: %v", body, same)
		}
	}
	got := wantData[obj](t, e.do("GET", "/backend/leads/p1", nil), http.StatusOK).Data
	if got["company"] != "Globex" || got["phone"] != nil {
		t.Errorf("GET after updates = %v", got)
	}
	wantProblem(t, e.do("PUT", "/backend/leads/missing", obj{"name": "x"}), http.StatusNotFound, "NOT_FOUND")
}

func TestLeadDelete(t *testing.T) {
	e := newEnv(t)
	wantData[obj](t, e.do("POST", "/backend/leads", obj{"id": "gone", "phone": "+5511977778888"}), http.StatusCreated)
	r := e.do("DELETE", "/backend/leads/gone", nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %q, want 204 and no body", r.Status, r.Body)
	}
	p := wantProblem(t, e.do("GET", "/backend/leads/gone", nil), http.StatusNotFound, "NOT_FOUND")
	if !strings.Contains(p.Detail, "gone") || p.Instance != "/backend/leads/gone" {
		t.Errorf("404 detail %q instance %q should name the lead", p.Detail, p.Instance)
	}
	wantProblem(t, e.do("DELETE", "/backend/leads/gone", nil), http.StatusNotFound, "NOT_FOUND")
	// Id and phone are free again.
	wantData[obj](t, e.do("POST", "/backend/leads", obj{"id": "gone", "phone": "+5511977778888"}), http.StatusCreated)
}

func TestLeadPhoneAndEmailShapes(t *testing.T) {
	e := newEnv(t)
	good := []string{"+55 11 99999-9999", "(11) 9999.9999", "123", "+1 (555) 010-0000", "5511999999999"}
	for i, phone := range good {
		l := wantData[obj](t, e.do("POST", "/backend/leads", obj{"phone": phone, "email": "p" + strconv.Itoa(i) + "@example.com"}),
			http.StatusCreated).Data
		if l["phone"] != phone {
			t.Errorf("phone %q stored as %v", phone, l["phone"])
		}
	}
	bad := []string{"00(", "(--)", "...", "+", "12", "abc", "+55 11 9999 ext 2", "++5511999", strings.Repeat("1", 33), "1\n2\n3"}
	for _, phone := range bad {
		t.Run("phone "+phone, func(t *testing.T) {
			wantFields(t, e.do("POST", "/backend/leads", obj{"phone": phone}), "phone")
		})
	}
	for _, email := range []string{"nope", "a@", "@b.c", "Ana <ana@x.com>", "a@b.c, d@e.f"} {
		t.Run("email "+email, func(t *testing.T) {
			wantFields(t, e.do("POST", "/backend/leads", obj{"email": email}), "email")
		})
	}
}

// JavaScript clients percent-encode a WhatsApp JID's @ in paths.
func TestLeadIDPercentEncodedInPath(t *testing.T) {
	e := newEnv(t)
	id := "5511999999999@s.whatsapp.net"
	if r := e.do("POST", "/backend/leads", map[string]any{"id": id}); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/backend/leads/5511999999999%40s.whatsapp.net", "/backend/messages/5511999999999%40s.whatsapp.net"} {
		if r := e.do("GET", path, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, r.Status, r.Body)
		}
	}
}
