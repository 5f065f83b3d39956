package web_test

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"
)

// TestAgentListParams: GET /conversation's limit, currentPage and date
// parameters, their defaults and their errors.
func TestAgentListParams(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	var ids []string
	for range 30 {
		ids = append(ids, agentCreate(t, e, bot, nil))
	}

	p := agentList(t, e, e.key, nil)
	if len(p.Conversations) != 25 || p.Total != 30 || p.TotalPages != 2 || p.CurrentPage != 1 || p.Cursor == nil {
		t.Errorf("default page: %d items, total %d, pages %d, currentPage %d, cursor %v",
			len(p.Conversations), p.Total, p.TotalPages, p.CurrentPage, p.Cursor)
	}
	if got := agentIDs(p); !slices.Equal(got, ids[:25]) {
		t.Errorf("default page is not the 25 oldest, oldest first:\n got %v\nwant %v", got, ids[:25])
	}
	for _, c := range p.Conversations {
		if c.BotID != bot || c.Survey != 0 || c.Meta == nil || !timestampRE.MatchString(c.CreatedAt) ||
			!timestampRE.MatchString(c.UpdatedAt) || c.Channel == "" {
			t.Errorf("item %+v", c)
		}
	}
	r := e.do(http.MethodGet, "/conversation?limit=1", nil)
	for _, item := range agentJSON[obj](t, r, http.StatusOK)["conversations"].([]any) {
		agentKeys(t, "conversation item", item.(obj), agentItemKeys...)
	}

	pages := []struct {
		limit, page            string
		n, current, totalPages int
		first                  int
		cursor                 bool
	}{
		{"1", "0", 1, 1, 30, 0, true},
		{"100", "0", 30, 1, 1, 0, false},
		{"7", "4", 2, 5, 5, 28, false},
		{"10", "1", 10, 2, 3, 10, true},
		{"10", "2", 10, 3, 3, 20, false},
		{"10", "3", 0, 4, 3, 0, false},
	}
	for _, c := range pages {
		p := agentList(t, e, e.key, url.Values{"limit": {c.limit}, "currentPage": {c.page}})
		if len(p.Conversations) != c.n || p.CurrentPage != c.current || p.TotalPages != c.totalPages ||
			p.Total != 30 || (p.Cursor != nil) != c.cursor {
			t.Errorf("limit %s page %s: %d items, currentPage %d, totalPages %d, total %d, cursor %v",
				c.limit, c.page, len(p.Conversations), p.CurrentPage, p.TotalPages, p.Total, p.Cursor)
			continue
		}
		if c.n > 0 && p.Conversations[0].ID != ids[c.first] {
			t.Errorf("limit %s page %s starts at %s, want conversation %d", c.limit, c.page, p.Conversations[0].ID, c.first)
		}
	}

	// Dates are UTC creation dates, both ends inclusive.
	all := agentList(t, e, e.key, url.Values{"limit": {"100"}}).Conversations
	first, last := all[0].CreatedAt[:10], all[len(all)-1].CreatedAt[:10]
	day := func(d string, add int) string {
		v, err := time.Parse(time.DateOnly, d)
		if err != nil {
			t.Fatal(err)
		}
		return v.AddDate(0, 0, add).Format(time.DateOnly)
	}
	dates := []struct {
		init, end string
		want      int
	}{
		{first, last, 30}, {first, "", 30}, {"", last, 30}, {day(first, -1), day(last, 1), 30},
		{day(last, 1), "", 0}, {"", day(first, -1), 0}, {day(last, 1), day(last, 3), 0},
	}
	for _, d := range dates {
		q := url.Values{}
		if d.init != "" {
			q.Set("dateInit", d.init)
		}
		if d.end != "" {
			q.Set("dateEnd", d.end)
		}
		if p := agentList(t, e, e.key, q); p.Total != d.want {
			t.Errorf("dateInit %q dateEnd %q: total %d, want %d", d.init, d.end, p.Total, d.want)
		}
	}

	bad := []struct {
		query  string
		fields []string
	}{
		{"limit=0", []string{"limit"}},
		{"limit=101", []string{"limit"}},
		{"limit=-5", []string{"limit"}},
		{"limit=ten", []string{"limit"}},
		{"currentPage=-1", []string{"currentPage"}},
		{"currentPage=x", []string{"currentPage"}},
		{"dateInit=2024-1-5", []string{"dateInit"}},
		{"dateInit=15/01/2024", []string{"dateInit"}},
		{"dateEnd=2024-02-30", []string{"dateEnd"}},
		{"dateEnd=2024-01-15T00:00:00Z", []string{"dateEnd"}},
		{"dateInit=2024-01-16&dateEnd=2024-01-15", []string{"dateEnd"}},
		{"limit=0&currentPage=-1&dateInit=bad", []string{"limit", "currentPage", "dateInit"}},
	}
	for _, b := range bad {
		t.Run(b.query, func(t *testing.T) {
			wantFields(t, e.do(http.MethodGet, "/conversation?"+b.query, nil), b.fields...)
		})
	}
}

// TestAgentSearch: search looks in the conversation id, the lead's id, name,
// phone and email, the agent's name, meta values and message text (trigram
// index, accents folded; a scan below three characters); meta looks in meta
// values only.
func TestAgentSearch(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	zeta := wantData[obj](t, e.do(http.MethodPost, "/backend/assistants", obj{"name": "Helpdesk Zeta"}), http.StatusCreated).Data

	byAgent := agentCreate(t, e, str(t, zeta, "id"), nil)
	byLead := agentCreate(t, e, bot, obj{"meta": obj{"lead_id": "lead-search-1"}})
	wantData[obj](t, e.do(http.MethodPut, "/backend/leads/lead-search-1",
		obj{"name": "Joana São Bento", "phone": "+5511987654321", "email": "joana@example.org"}), http.StatusOK)
	byMeta := agentCreate(t, e, bot, obj{"meta": obj{"order": "ORD-77123", "city": "Curitiba", "nested": obj{"deep": "hidden"}}})
	byText := agentCreate(t, e, bot, nil)
	agentComplete(t, e, byText, "my parcel QX-4455 is late")
	byID := agentCreate(t, e, bot, nil)
	byShortMeta := agentCreate(t, e, bot, obj{"meta": obj{"ticket": "#7"}})
	byShortText := agentCreate(t, e, bot, nil)
	agentComplete(t, e, byShortText, "pedido ¿¡ ok")
	byAccent := agentCreate(t, e, bot, nil)
	agentComplete(t, e, byAccent, "Entrega em São José")

	sorted := func(ids ...string) []string {
		sort.Strings(ids)
		if ids == nil {
			return []string{}
		}
		return ids
	}
	cases := []struct {
		param, value string
		want         []string
	}{
		{"search", "Zeta", sorted(byAgent)},
		{"search", "helpdesk zeta", sorted(byAgent)},
		{"search", "JOANA", sorted(byLead)},
		{"search", "98765432", sorted(byLead)},
		{"search", "joana@example", sorted(byLead)},
		{"search", "lead-search", sorted(byLead)},
		{"search", "Sao Bento", sorted(byLead)},
		{"search", "Sao", sorted(byLead, byAccent)},
		{"search", "São José", sorted(byAccent)},
		{"search", "sao jose", sorted(byAccent)},
		{"search", "ORD-77123", sorted(byMeta)},
		{"search", "Curitiba", sorted(byMeta)},
		{"search", "QX-4455", sorted(byText)},
		{"search", byID, sorted(byID)},
		{"search", byID[len(byID)-12:], sorted(byID)},
		{"search", "#7", sorted(byShortMeta)},
		{"search", "¿¡", sorted(byShortText)},
		{"search", "no such thing anywhere", sorted()},
		{"search", "q\x00zx", sorted()},   // FTS5 must not see the NUL
		{"search", `"x" OR y*`, sorted()}, // a phrase, never FTS5 syntax
		{"meta", "q\x00zx", sorted()},
		{"meta", "77123", sorted(byMeta)},
		{"meta", "curitiba", sorted(byMeta)},
		{"meta", "#7", sorted(byShortMeta)},
		{"meta", "order", sorted()},          // keys are not values
		{"meta", "hidden", sorted(byMeta)},   // values at any depth count
		{"search", "hidden", sorted(byMeta)}, // for search too
		{"meta", "deep", sorted()},           // but not nested keys
		{"meta", "QX-4455", sorted()},        // message text is not meta
		{"meta", "¿¡", sorted()},             // not on the scan path either
		{"meta", "Joana", sorted()},          // nor the lead
		{"meta", "Zeta", sorted()},           // nor the agent
		{"meta", byID[:13], sorted()},        // nor the id
	}
	for _, c := range cases {
		t.Run(c.param+"="+c.value, func(t *testing.T) {
			if got := agentSearch(t, e, url.Values{c.param: {c.value}}); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s=%q found %v, want %v", c.param, c.value, got, c.want)
			}
		})
	}
	// Filters combine: search and meta must both match.
	if got := agentSearch(t, e, url.Values{"search": {"Curitiba"}, "meta": {"ORD"}}); !reflect.DeepEqual(got, []string{byMeta}) {
		t.Errorf("search+meta = %v", got)
	}
	if got := agentSearch(t, e, url.Values{"search": {"Joana"}, "meta": {"ORD"}}); len(got) != 0 {
		t.Errorf("search Joana + meta ORD = %v, want none", got)
	}
	// A lead renamed later is found under its new name only.
	wantData[obj](t, e.do(http.MethodPut, "/backend/leads/lead-search-1", obj{"name": "Mariana"}), http.StatusOK)
	if got := agentSearch(t, e, url.Values{"search": {"Mariana"}}); !reflect.DeepEqual(got, []string{byLead}) {
		t.Errorf("search for the new lead name = %v", got)
	}
	if got := agentSearch(t, e, url.Values{"search": {"Bento"}}); len(got) != 0 {
		t.Errorf("search for the old lead name = %v, want none", got)
	}
}
