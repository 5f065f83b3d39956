package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestConversationPagePlans: a filtered page reads through the index the
// filter needs, never by walking the tenant's whole activity order for a
// lead's few conversations; a filter with many matches walks the order, and
// an unfiltered or status page picks its rows from the index alone.
func TestConversationPagePlans(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	plan := func(f ConversationFilter, total int) string {
		q, args := conversationsPageSQL(engineSQLite, "t", f, total)
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, append(args, 20, 0)...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return strings.Join(lines, "; ")
	}
	for _, c := range []struct {
		f     ConversationFilter
		total int
		want  string
	}{
		{ConversationFilter{}, 100000, "USING INDEX conversations_by_activity (tenant_id=?)"},
		{ConversationFilter{Status: "active"}, 100000, "USING INDEX conversations_by_status (tenant_id=? AND status=?)"},
		{ConversationFilter{LeadID: "l"}, 2, "USING INDEX conversations_by_lead (tenant_id=? AND lead_id=?)"},
		{ConversationFilter{LeadID: "l", Status: "active"}, 2, "USING INDEX conversations_by_lead (tenant_id=? AND lead_id=?)"},
		{ConversationFilter{ChannelID: "ch"}, 10, "USING INDEX conversations_by_channel (tenant_id=? AND channel_id=?)"},
		{ConversationFilter{ChannelID: "ch"}, 100000, "USING INDEX conversations_by_activity (tenant_id=?)"},
		{ConversationFilter{ChannelID: "ch", Status: "active"}, 10, "USING INDEX conversations_by_channel (tenant_id=? AND channel_id=?)"},
		{ConversationFilter{ChannelID: "ch", Status: "active"}, 100000, "USING INDEX conversations_by_status (tenant_id=? AND status=?)"},
		{ConversationFilter{AssistantID: "a"}, 10, "USING INDEX conversations_by_assistant (tenant_id=? AND assistant_id=?)"},
		{ConversationFilter{AssistantID: "a"}, 100000, "USING INDEX conversations_by_activity (tenant_id=?)"},
	} {
		got := plan(c.f, c.total)
		covering := strings.Replace(c.want, "USING INDEX", "USING COVERING INDEX", 1)
		if !strings.Contains(got, "SEARCH c "+c.want) && !strings.Contains(got, "SEARCH c "+covering) {
			t.Errorf("filter %+v with %d matches: plan %q, want SEARCH c %s", c.f, c.total, got, c.want)
		}
	}
}

// TestConversationPagesSkipByIndex: an offset page skips rows in the index
// alone (a covering index) instead of reading and joining each one.
func TestConversationPagesSkipByIndex(t *testing.T) {
	s := openSQLiteForTest(t)
	for _, f := range []ConversationFilter{{}, {Status: "active"}} {
		q, args := conversationsPageSQL(engineSQLite, "t", f, 100000)
		var lines []string
		rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, append(args, 20, 180)...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		rows.Close()
		if got := strings.Join(lines, "; "); !strings.Contains(got, "USING COVERING INDEX") {
			t.Errorf("filter %+v: plan %q skips rows through the table", f, got)
		}
	}
}

// TestConversationPagesAgree: sorting the matches and walking the activity
// order give the same pages.
func TestConversationPagesAgree(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	ch1, err := ten.CreateChannel(ctx, ChannelInput{Type: ptr("whatsapp"), Name: ptr("one")})
	if err != nil {
		t.Fatal(err)
	}
	ch2, err := ten.CreateChannel(ctx, ChannelInput{Type: ptr("whatsapp"), Name: ptr("two")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		ch := ch1.ID
		if i%3 == 0 {
			ch = ch2.ID
		}
		// Messages to older conversations later reorder the activity.
		for _, n := range []int{i, (i * 7) % 40} {
			if _, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("lead-%d", n), ChannelID: ch, CreateLead: true,
				Role: RoleUser, Content: "oi", Status: MsgDelivered}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, _, err := ten.ListConversations(ctx, ConversationFilter{}, Page{Limit: 1})
	if err != nil || len(all) == 0 {
		t.Fatalf("list: %v %v", all, err)
	}
	saved := sortMatchesMax
	t.Cleanup(func() { sortMatchesMax = saved })
	for _, f := range []ConversationFilter{{ChannelID: ch1.ID}, {ChannelID: ch2.ID, Status: "active"}, {AssistantID: all[0].AssistantID}} {
		pages := map[int][]string{}
		for _, max := range []int{1, 1000} { // walk, then sort
			sortMatchesMax = max
			var ids []string
			for off := 0; ; off += 7 {
				list, total, err := ten.ListConversations(ctx, f, Page{Limit: 7, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				if total == 0 {
					t.Fatalf("filter %+v matches nothing", f)
				}
				for _, c := range list {
					ids = append(ids, c.ID)
				}
				if len(list) < 7 {
					break
				}
			}
			pages[max] = ids
		}
		if !slices.Equal(pages[1], pages[1000]) || len(pages[1]) == 0 {
			t.Errorf("filter %+v: walking gave %d conversations %v, sorting %d %v", f, len(pages[1]), pages[1], len(pages[1000]), pages[1000])
		}
	}
}
