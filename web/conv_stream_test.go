package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/storetest"
	"github.com/parley-dev/parley/stream"
)

// TestConvStreamAuthAndValidation: both SSE routes take ?token= (and the
// Authorization header); a missing or bad key is a 401 problem and bad
// parameters a 400 problem, never a stream (API.md §1, §2).
func TestConvStreamAuthAndValidation(t *testing.T) {
	e := newEnv(t)
	convID := str(t, convProcess(t, e, "auth-lead", "user", "hi", ""), "conversation_id")
	routes := []string{"/backend/conversations/stream", "/backend/conversations/" + convID + "/stream"}
	for _, route := range routes {
		t.Run(route, func(t *testing.T) {
			s := e.openStream(route, nil) // ?token=<key>
			if first := s.Next(convWait, func(sseEvent) bool { return true }); first.Retry != "5000" {
				t.Errorf("first frame = %+v, want retry: 5000", first)
			}
			s.Close()
			// "notoken=" keeps tryStream from adding ?token=: the header alone.
			h, res := e.tryStream(route+"?notoken=1", map[string]string{"Authorization": "Bearer " + e.key})
			if h == nil {
				t.Errorf("Authorization header only: status %d %s", res.Status, res.Body)
			} else {
				h.Close()
			}
			for _, bad := range []string{"token=bogus", "token=" + e.key + "x", "token="} {
				c, res := e.tryStream(route+"?"+bad, nil)
				if c != nil {
					t.Fatalf("%s opened a stream", bad)
				}
				wantProblem(t, res, http.StatusUnauthorized, "UNAUTHORIZED")
			}
			wantProblem(t, e.raw(http.MethodGet, route, nil, nil), http.StatusUnauthorized, "UNAUTHORIZED")
			wantProblem(t, e.raw(http.MethodGet, route, nil, map[string]string{"Authorization": "Bearer nope"}),
				http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}

	_, otherKey := storetest.Tenant(t, e.store, "other")
	for path, status := range map[string]int{
		"/backend/conversations/0190a0b0-0000-7000-8000-000000000000/stream": http.StatusNotFound,
		"/backend/conversations/" + convID + "/stream?token=" + otherKey:     http.StatusNotFound,
	} {
		_, res := e.tryStream(path, nil)
		wantProblem(t, res, status, "NOT_FOUND")
	}

	bad := []struct {
		query  string
		header map[string]string
		fields []string
	}{
		{convQuery("types", "bogus"), nil, []string{"types"}},
		{convQuery("types", "new_message,bogus"), nil, []string{"types"}},
		{convQuery("types", "new_message,"), nil, []string{"types"}},
		{convQuery("types", "foo,bar"), nil, []string{"types"}},
		{convQuery("last_event_id", "abc"), nil, []string{"last_event_id"}},
		{convQuery("last_event_id", "-1"), nil, []string{"last_event_id"}},
		{"", map[string]string{"Last-Event-ID": "1.5"}, []string{"Last-Event-ID"}},
		{"", map[string]string{"Last-Event-ID": "x"}, []string{"Last-Event-ID"}},
		{convQuery("types", "nope"), map[string]string{"Last-Event-ID": "-3"}, []string{"types", "Last-Event-ID"}},
	}
	for _, route := range routes {
		for _, tc := range bad {
			name := "bad " + route + tc.query
			if tc.header != nil {
				name += " " + mustJSON(t, tc.header)
			}
			t.Run(name, func(t *testing.T) {
				c, res := e.tryStream(route+tc.query, tc.header)
				if c != nil {
					t.Fatal("a stream opened")
				}
				wantFields(t, res, tc.fields...)
			})
		}
	}
}

// TestConvStreamHeadersAndFirstFrame: the stream's headers, the retry frame
// before anything else (a replay included), and heartbeats without id.
func TestConvStreamHeadersAndFirstFrame(t *testing.T) {
	e := newEnvWith(t, envOpts{Stream: stream.Options{Heartbeat: 20 * time.Millisecond}})
	lead := "hdr-lead"
	convProcess(t, e, lead, "user", "before the stream", "")
	s := e.openStream("/backend/conversations/stream"+convQuery("last_event_id", "0"), nil)
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := s.res.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	first := s.Next(convWait, func(sseEvent) bool { return true })
	if first.Retry != "5000" || first.Data != "" || first.ID != "" {
		t.Fatalf("first frame = %+v, want only retry: 5000", first)
	}
	// Then the replay of what was stored before, from id 1.
	if ev := s.Next(convWait, nil); ev.Type != "new_message" || ev.Seq() != 1 {
		t.Errorf("first event = %s id %q, want new_message id 1", ev.Type, ev.ID)
	}
	hb := s.Next(convWait, ofType("heartbeat"))
	if hb.ID != "" {
		t.Errorf("heartbeat has id %q", hb.ID)
	}
	d := convData(t, hb)
	convWantKeys(t, "heartbeat data", d, "timestamp")
	if !timestampRE.MatchString(str(t, d, "timestamp")) {
		t.Errorf("heartbeat timestamp = %v", d["timestamp"])
	}
	if strings.Contains(hb.Data, "\n") || strings.HasPrefix(hb.Data, "event:") {
		t.Errorf("heartbeat frame %q is not one unnamed data line", hb.Data)
	}

	// Naming the control frames in types is allowed; they come whatever the
	// filter, and the filter still applies to everything else.
	only := e.openStream("/backend/conversations/stream"+convQuery("types", "heartbeat,stream_reset", "last_event_id", "0"), nil)
	with := e.openStream("/backend/conversations/stream"+convQuery("types", "typing, heartbeat"), nil)
	convProcess(t, e, lead, "user", "while filtered", "")
	if ev := with.Next(convWait, ofType("typing", "new_message", "conversation_update")); ev.Type != "typing" {
		t.Errorf("types=typing,heartbeat got %s", ev.Data)
	}
	with.Next(convWait, ofType("heartbeat"))
	// The turn's events were published before the process call answered:
	// by the second heartbeat after it, any of them would have come.
	for beats := 0; beats < 2; {
		ev := only.Next(convWait, func(sseEvent) bool { return true })
		switch {
		case ev.Type == "heartbeat":
			beats++
		case ev.Retry == "" || ev.Data != "":
			t.Errorf("types=heartbeat,stream_reset got %+v", ev)
		}
	}
}

// TestConvStreamMaxStreams: beyond MaxStreams a stream is refused with a 503
// problem; closing one makes room again.
func TestConvStreamMaxStreams(t *testing.T) {
	e := newEnvWith(t, envOpts{Stream: stream.Options{MaxStreams: 1}})
	convID := str(t, convProcess(t, e, "max-lead", "user", "hi", ""), "conversation_id")
	first := e.openStream("/backend/conversations/stream", nil)
	for _, path := range []string{"/backend/conversations/stream", "/backend/conversations/" + convID + "/stream"} {
		c, res := e.tryStream(path, nil)
		if c != nil {
			t.Fatalf("%s: a second stream opened with MaxStreams 1", path)
		}
		wantProblem(t, res, http.StatusServiceUnavailable, "UNAVAILABLE")
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	}
	// The refused attempts did not disturb the open stream.
	convSend(t, e, obj{"lead_id": "max-lead", "content": "still live", "role": "assistant"})
	if ev := convNext(first, convID, "new_message"); convObj(t, convData(t, ev), "message")["content"] != "still live" {
		t.Errorf("open stream got %s", ev.Data)
	}
	first.Close()
	eventually(t, convWait, "a stream slot to free up", func() bool {
		c, _ := e.tryStream("/backend/conversations/stream", nil)
		if c != nil {
			c.Close()
		}
		return c != nil
	})
}

// TestConvStreamTenantIsolation: another tenant's events never arrive, live
// or replayed, even under a filter naming the same lead id.
func TestConvStreamTenantIsolation(t *testing.T) {
	e := newEnv(t)
	_, otherKey := storetest.Tenant(t, e.store, "other")
	shared := "5511912345678" // a lead id both tenants use
	convProcess(t, e, shared, "user", "tenant one, before", "")
	if r := e.doKey(otherKey, http.MethodPost, "/backend/leads", obj{"id": shared}); r.Status != http.StatusCreated {
		t.Fatalf("other tenant's lead: %d %s", r.Status, r.Body)
	}
	streams := map[string]*sseClient{}
	for name, q := range map[string]string{
		"all":     "",
		"lead":    convQuery("lead_id", shared),
		"replay":  convQuery("last_event_id", "0"),
		"all, ai": convQuery("types", "new_message,typing,conversation_update"),
	} {
		sep := "?"
		if q != "" {
			sep = "&"
		}
		streams[name] = e.openStream("/backend/conversations/stream"+q+sep+"token="+otherKey, nil)
	}
	own := e.openStream("/backend/conversations/stream", nil)

	// Tenant one is busy: messages, AI turns, updates, receipts, typing.
	res := convProcess(t, e, shared, "user", "tenant one", "")
	convID := str(t, res, "conversation_id")
	e.do(http.MethodPut, "/backend/messages/"+str(t, res, "message_id")+"/status", obj{"status": "read"})
	e.do(http.MethodPut, "/backend/conversations/"+convID, obj{"status": "archived"})
	e.do(http.MethodPost, "/backend/conversations/"+convID+"/typing", obj{"is_typing": true, "role": "user"})
	convSend(t, e, obj{"lead_id": shared, "content": "tenant one, human"})
	// Then tenant two's only message: the marker its streams wait for.
	m := wantData[obj](t, e.doKey(otherKey, http.MethodPost, "/backend/messages/send", obj{"lead_id": shared, "content": "tenant two", "role": "assistant"}),
		http.StatusCreated).Data
	otherConv := str(t, m, "conversation_id")

	for name, s := range streams {
		ev := s.Next(convWait, nil)
		d := convData(t, ev)
		if ev.Type != "new_message" || d["conversation_id"] != otherConv || convObj(t, d, "message")["content"] != "tenant two" {
			t.Errorf("%s: first event = %s, want tenant two's own message", name, ev.Data)
		}
		if ev.Seq() != 1 {
			t.Errorf("%s: tenant two's first event id = %d, want 1 (its own sequence)", name, ev.Seq())
		}
	}
	// Tenant one's own stream saw its activity and not tenant two's marker.
	convNext(own, convID, "typing")
	time.Sleep(convQuiet) // then nothing more may have come
	for name, s := range streams {
		if extra := convPending(s); len(extra) != 0 {
			t.Errorf("%s: received %d more events, first %s", name, len(extra), extra[0].Data)
		}
	}
	for _, ev := range convPending(own) {
		if d := convData(t, ev); d["conversation_id"] == otherConv {
			t.Errorf("tenant one received tenant two's event %s", ev.Data)
		}
	}
}
