package web_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
)

// convSeen is what a filter sees of an event: its type, conversation and lead.
type convSeen struct{ typ, conv, lead string }

func convSeenOf(t *testing.T, ev sseEvent) convSeen {
	t.Helper()
	d := convData(t, ev)
	c, _ := d["conversation_id"].(string)
	l, _ := d["lead_id"].(string)
	return convSeen{ev.Type, c, l}
}

// TestConvStreamFilters: lead_id, conversation_id, channel_id, types and the
// /{id}/stream route, alone and combined, deliver exactly the matching events
// of the whole stream, in the same order, and nothing else.
func TestConvStreamFilters(t *testing.T) {
	e := newEnv(t)
	a, b := convLead(t, e, obj{"id": "lead-a"}), convLead(t, e, obj{"id": "lead-b"})
	ch := convChannel(t, e, "wa", "")
	cA := str(t, convSend(t, e, obj{"lead_id": a, "content": "open", "role": "assistant"}), "conversation_id")
	cACh := str(t, convSend(t, e, obj{"lead_id": a, "content": "open", "role": "assistant", "channel_id": ch}), "conversation_id")
	cB := str(t, convSend(t, e, obj{"lead_id": b, "content": "open", "role": "assistant"}), "conversation_id")

	cases := []struct {
		name, path string
		want       func(convSeen) bool
	}{
		{"lead_id", convQuery("lead_id", a), func(s convSeen) bool { return s.lead == a }},
		{"conversation_id", convQuery("conversation_id", cB), func(s convSeen) bool { return s.conv == cB }},
		{"route", "/" + cACh + "/stream", func(s convSeen) bool { return s.conv == cACh }},
		{"route ignores another conversation_id", "/" + cACh + "/stream" + convQuery("conversation_id", cA),
			func(s convSeen) bool { return s.conv == cACh }},
		{"channel_id", convQuery("channel_id", ch), func(s convSeen) bool { return s.conv == cACh }},
		{"types", convQuery("types", "status_change,message_status"),
			func(s convSeen) bool { return s.typ == "status_change" || s.typ == "message_status" }},
		{"types with spaces", convQuery("types", " typing , conversation_update"),
			func(s convSeen) bool { return s.typ == "typing" || s.typ == "conversation_update" }},
		{"lead_id and types", convQuery("lead_id", a, "types", "new_message"),
			func(s convSeen) bool { return s.lead == a && s.typ == "new_message" }},
		{"route and types", "/" + cA + "/stream" + convQuery("types", "typing"),
			func(s convSeen) bool { return s.conv == cA && s.typ == "typing" }},
		{"lead_id and channel_id", convQuery("lead_id", a, "channel_id", ch), func(s convSeen) bool { return s.conv == cACh }},
		{"disjoint", convQuery("lead_id", b, "channel_id", ch), func(convSeen) bool { return false }},
	}
	all := e.openStream("/backend/conversations/stream", nil)
	streams := make([]*sseClient, len(cases))
	for i, tc := range cases {
		path := "/backend/conversations/stream" + tc.path
		if tc.path != "" && tc.path[0] == '/' {
			path = "/backend/conversations" + tc.path
		}
		streams[i] = e.openStream(path, nil)
	}

	// Every kind of event on every conversation.
	r := convProcess(t, e, a, "user", "a1", "") // new_message, conversation_update, typing, new_message, typing
	convSend(t, e, obj{"lead_id": a, "content": "human", "channel_id": ch})
	convProcess(t, e, b, "user", "b1", "")
	e.do(http.MethodPut, "/backend/messages/"+str(t, r, "message_id")+"/status", obj{"status": "read"})
	e.do(http.MethodPost, "/backend/conversations/"+cACh+"/read", nil)
	e.do(http.MethodPut, "/backend/conversations/"+cB, obj{"status": "archived"})
	e.do(http.MethodPut, "/backend/conversations/"+cACh, obj{"meta": obj{"k": "v"}})
	for _, c := range []string{cA, cACh, cB} {
		e.do(http.MethodPost, "/backend/conversations/"+c+"/typing", obj{"is_typing": true, "role": "user"})
	}
	e.do(http.MethodPost, "/backend/conversations/"+cA+"/typing", obj{"is_typing": false, "role": "human"}) // the last event

	var events []sseEvent
	for {
		ev := all.Next(convWait, nil)
		events = append(events, ev)
		if ev.Type == "typing" && convData(t, ev)["role"] == "human" {
			break
		}
	}
	var last int64
	types := map[string]bool{}
	for _, ev := range events {
		s := convSeenOf(t, ev)
		types[ev.Type] = true
		if ev.Type == "typing" {
			continue
		}
		if s.conv == "" || s.lead == "" {
			t.Errorf("stored event without conversation_id or lead_id: %s", ev.Data)
		}
		if ev.Seq() <= last {
			t.Errorf("event id %d after %d", ev.Seq(), last)
		}
		last = ev.Seq()
	}
	for _, typ := range []string{"new_message", "conversation_update", "status_change", "message_status", "typing"} {
		if !types[typ] {
			t.Errorf("the scenario produced no %s event", typ)
		}
	}

	got := make([][]string, len(cases))
	wants := make([][]string, len(cases))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, ev := range events {
				if tc.want(convSeenOf(t, ev)) {
					want = append(want, ev.ID+" "+ev.Data)
				}
			}
			if len(want) == 0 && tc.name != "disjoint" {
				t.Fatal("the scenario has no event for this filter")
			}
			for range want {
				ev := streams[i].Next(convWait, nil)
				got[i] = append(got[i], ev.ID+" "+ev.Data)
			}
			wants[i] = want
		})
	}
	time.Sleep(convQuiet) // then nothing more may have come
	for i, tc := range cases {
		for _, ev := range convPending(streams[i]) {
			got[i] = append(got[i], "EXTRA "+ev.ID+" "+ev.Data)
		}
		if !slices.Equal(got[i], wants[i]) {
			t.Errorf("%s: got %d events:\n%v\nwant %d:\n%v", tc.name, len(got[i]), got[i], len(wants[i]), wants[i])
		}
	}
}

// TestConvStreamResume: Last-Event-ID (header) or last_event_id (query)
// replays every matching event after it, then goes live, with no gap and no
// duplicate while messages keep arriving during the reconnection.
func TestConvStreamResume(t *testing.T) {
	cases := []struct {
		name   string
		filter store.EventFilter
		query  []string
		header bool
	}{
		{name: "header", header: true},
		{name: "query", query: []string{}},
		{name: "header with lead filter", header: true, filter: store.EventFilter{LeadID: "resume-1"}, query: []string{"lead_id", "resume-1"}},
		{name: "query with types", filter: store.EventFilter{Types: map[string]bool{"conversation_update": true}},
			query: []string{"types", "conversation_update"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			add := func(i int) error {
				_, err := e.tenant.AddMessage(ctx, store.MessageInput{LeadID: fmt.Sprintf("resume-%d", i%2), CreateLead: true,
					Role: store.RoleUser, Content: fmt.Sprintf("m%d", i), MessageType: "text", Status: store.MsgDelivered})
				return err
			}
			for i := range 10 {
				if err := add(i); err != nil {
					t.Fatal(err)
				}
			}
			b, err := e.tenant.EventBounds(ctx)
			if err != nil {
				t.Fatal(err)
			}
			from := b.Last / 2 // resume from the middle of the log

			var wg sync.WaitGroup
			wg.Add(1)
			connected := make(chan struct{})
			go func() { // keep writing until the client has reconnected
				defer wg.Done()
				for i := 10; ; i++ {
					if err := add(i); err != nil {
						t.Error(err)
						return
					}
					select {
					case <-connected:
						if i >= 40 {
							return
						}
					default:
					}
				}
			}()
			pairs := slices.Clone(tc.query)
			var header map[string]string
			if tc.header {
				header = map[string]string{"Last-Event-ID": strconv.FormatInt(from, 10)}
			} else {
				pairs = append(pairs, "last_event_id", strconv.FormatInt(from, 10))
			}
			s := e.openStream("/backend/conversations/stream"+convQuery(pairs...), header)
			close(connected)
			wg.Wait()
			if t.Failed() {
				return
			}
			for i := 1000; i < 1010; i++ { // and some surely after the replay
				if err := add(i); err != nil {
					t.Fatal(err)
				}
			}
			b, err = e.tenant.EventBounds(ctx)
			if err != nil {
				t.Fatal(err)
			}
			expected, err := e.tenant.EventsAfter(ctx, from, b.Last, tc.filter, 10000)
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for i := range expected {
				if tc.filter.Match(&expected[i]) {
					want = append(want, expected[i].Seq)
				}
			}
			if len(want) < 20 {
				t.Fatalf("only %d events to resume: the test is not testing", len(want))
			}
			var got []int64
			for range want {
				ev := s.Next(convWait, nil)
				if ev.ID == "" || ev.Type == "stream_reset" {
					t.Fatalf("unexpected live-only event %s", ev.Data)
				}
				got = append(got, ev.Seq())
			}
			for _, ev := range convDrain(s, convQuiet) {
				got = append(got, ev.Seq())
			}
			if !slices.Equal(got, want) {
				t.Errorf("resumed after %d: got ids %v\nwant %v", from, got, want)
			}
			if tc.filter.LeadID == "" && len(tc.filter.Types) == 0 && (got[0] != from+1 || got[len(got)-1] != b.Last) {
				t.Errorf("ids %d..%d, want %d..%d without gap", got[0], got[len(got)-1], from+1, b.Last)
			}
		})
	}
}
