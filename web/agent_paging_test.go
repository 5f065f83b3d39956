package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// agentWalk collects the ids of a page walk, failing on an id seen twice or
// out of creation order.
type agentWalk struct {
	t    *testing.T
	seen map[string]bool
	ids  []string
	last agentConv
}

func (w *agentWalk) add(p agentPage) {
	w.t.Helper()
	for _, c := range p.Conversations {
		if w.seen[c.ID] {
			w.t.Fatalf("conversation %s returned twice", c.ID)
		}
		if w.last.ID != "" && (c.CreatedAt < w.last.CreatedAt || c.CreatedAt == w.last.CreatedAt && c.ID < w.last.ID) {
			w.t.Errorf("conversation %s (%s) comes after %s (%s): not oldest first", c.ID, c.CreatedAt, w.last.ID, w.last.CreatedAt)
		}
		w.seen[c.ID] = true
		w.ids = append(w.ids, c.ID)
		w.last = c
	}
	if want := (p.Total + 9) / 10; p.TotalPages != want {
		w.t.Errorf("total %d with limit 10 gives totalPages %d, want %d", p.Total, p.TotalPages, want)
	}
}

func (w *agentWalk) check(orig []string, created int) {
	w.t.Helper()
	for _, id := range orig {
		if !w.seen[id] {
			w.t.Errorf("conversation %s missing from the walk", id)
		}
	}
	if len(w.ids) < len(orig) || len(w.ids) > len(orig)+created {
		w.t.Errorf("walk returned %d ids, want between %d and %d", len(w.ids), len(orig), len(orig)+created)
	}
}

// TestAgentPagingIsStable: 30 conversations, limit 10, two new ones created
// before each page request: walking by currentPage and walking by cursor
// both return every original conversation exactly once, oldest first.
func TestAgentPagingIsStable(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	var orig []string
	for range 30 {
		orig = append(orig, agentCreate(t, e, bot, nil))
	}
	created := 0
	arrive := func() {
		agentCreate(t, e, bot, nil)
		agentCreate(t, e, bot, obj{"meta": obj{"late": "yes"}})
		created += 2
	}

	t.Run("currentPage", func(t *testing.T) {
		w := &agentWalk{t: t, seen: map[string]bool{}}
		page := 0
		for step := 0; ; step++ {
			if step > 10 {
				t.Fatal("the walk does not end")
			}
			p := agentList(t, e, e.key, url.Values{"limit": {"10"}, "currentPage": {strconv.Itoa(page)}})
			if p.CurrentPage != page+1 {
				t.Errorf("page index %d answered currentPage %d, want %d", page, p.CurrentPage, page+1)
			}
			w.add(p)
			if len(p.Conversations) < 10 {
				if p.Cursor != nil {
					t.Errorf("last page carries cursor %q", *p.Cursor)
				}
				break
			}
			arrive()
			page = p.CurrentPage // sent back as is
		}
		w.check(orig, created)
	})

	t.Run("cursor", func(t *testing.T) {
		w := &agentWalk{t: t, seen: map[string]bool{}}
		q := url.Values{"limit": {"10"}}
		for step := 0; ; step++ {
			if step > 10 {
				t.Fatal("the walk does not end")
			}
			p := agentList(t, e, e.key, q)
			if p.CurrentPage != step+1 {
				t.Errorf("step %d answered currentPage %d", step, p.CurrentPage)
			}
			w.add(p)
			if p.Cursor == nil {
				if len(p.Conversations) == 10 && p.CurrentPage < p.TotalPages {
					t.Errorf("no cursor on page %d of %d", p.CurrentPage, p.TotalPages)
				}
				break
			}
			arrive()
			q.Set("cursor", *p.Cursor)
		}
		w.check(orig, created)
		// Everything created before the last request was reached: new
		// conversations come at the end of a cursor walk.
		if all := agentList(t, e, e.key, url.Values{"limit": {"100"}}); len(w.ids) != all.Total {
			t.Errorf("cursor walk saw %d conversations, %d existed at its last page", len(w.ids), all.Total)
		}
	})
}

// TestAgentCursorReachesTheEnd: a cursor walk ends (cursor null) only on the
// last page, even when conversations before the cursor were deleted in the
// meantime or the client changed limit along the way.
func TestAgentCursorReachesTheEnd(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	var ids []string
	for i := range 30 {
		ids = append(ids, agentCreate(t, e, bot, obj{"meta": obj{"lead_id": "walker-" + strconv.Itoa(i)}}))
	}
	walk := func(first url.Values, then string, between func()) []string {
		t.Helper()
		p := agentList(t, e, e.key, first)
		got := agentIDs(p)
		between()
		for step := 0; p.Cursor != nil; step++ {
			if step > 30 {
				t.Fatal("the walk does not end")
			}
			p = agentList(t, e, e.key, url.Values{"limit": {then}, "cursor": {*p.Cursor}})
			got = append(got, agentIDs(p)...)
		}
		return got
	}
	if got := walk(url.Values{"limit": {"2"}}, "10", func() {}); !slices.Equal(got, ids) {
		t.Errorf("limit 2 then 10: walked %d conversations, want all %d in order", len(got), len(ids))
	}
	// The first page's leads, and with them their conversations, go away.
	got := walk(url.Values{"limit": {"10"}}, "10", func() {
		for i := range 10 {
			if r := e.do(http.MethodDelete, "/backend/leads/walker-"+strconv.Itoa(i), nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete lead: %d %s", r.Status, r.Body)
			}
		}
	})
	if !slices.Equal(got, ids) {
		t.Errorf("with deletions behind the cursor: walked %d conversations, want all %d in order", len(got), len(ids))
	}
}

// TestAgentCursorIsChecked: a cursor is signed and bound to its filters:
// forged, altered, truncated or filter-mismatched cursors are a 400 naming
// the cursor; the genuine one with its own filters works.
func TestAgentCursorIsChecked(t *testing.T) {
	e := newEnv(t)
	bot := agentBot(t, e)
	for range 6 {
		agentCreate(t, e, bot, obj{"meta": obj{"team": "blue"}})
	}
	first := agentList(t, e, e.key, url.Values{"limit": {"2"}})
	if first.Cursor == nil {
		t.Fatal("first page of 3 has no cursor")
	}
	cur := *first.Cursor
	next := agentList(t, e, e.key, url.Values{"limit": {"2"}, "cursor": {cur}})
	if next.CurrentPage != 2 || len(next.Conversations) != 2 || next.Conversations[0].ID == first.Conversations[0].ID {
		t.Fatalf("genuine cursor gave %+v", next)
	}
	filtered := agentList(t, e, e.key, url.Values{"limit": {"2"}, "meta": {"blue"}})
	if filtered.Cursor == nil {
		t.Fatal("filtered first page has no cursor")
	}
	if p := agentList(t, e, e.key, url.Values{"limit": {"2"}, "meta": {"blue"}, "cursor": {*filtered.Cursor}}); p.CurrentPage != 2 {
		t.Errorf("filtered cursor with its filters gave currentPage %d", p.CurrentPage)
	}

	body, sig, _ := strings.Cut(cur, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	day := first.Conversations[0].CreatedAt[:10]
	bad := []struct {
		name   string
		query  url.Values
		cursor string
	}{
		{"garbage", nil, "not-a-cursor"},
		{"forged", nil, "eyJ0IjoxLCJpIjoieCIsInAiOjEsImYiOiIifQ.AAAAAAAAAAAAAAAAAAAAAA"},
		{"body altered", nil, flip(body, len(body)/2) + "." + sig},
		{"signature altered", nil, body + "." + flip(sig, 3)},
		{"truncated", nil, cur[:len(cur)-1]},
		{"no signature", nil, body},
		{"other search", url.Values{"search": {"blue"}}, cur},
		{"other meta", url.Values{"meta": {"blue"}}, cur},
		{"other dateInit", url.Values{"dateInit": {day}}, cur},
		{"other dateEnd", url.Values{"dateEnd": {day}}, cur},
		{"filters dropped", nil, *filtered.Cursor},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			q := url.Values{"limit": {"2"}, "cursor": {b.cursor}}
			for k, v := range b.query {
				q[k] = v
			}
			wantFields(t, e.do(http.MethodGet, "/conversation?"+q.Encode(), nil), "cursor")
		})
	}
}
