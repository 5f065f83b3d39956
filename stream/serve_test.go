package stream

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestWireFormat(t *testing.T) {
	e := newEnv(t, Options{}, false)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodGet, e.streamURL(e.ten.ID()), nil)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store",
		"X-Accel-Buffering": "no", "Connection": "keep-alive"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("Content-Encoding %q: streams are not compressed", enc)
	}
	// The first frame arrives with the headers, before any event exists.
	body := bufio.NewReader(resp.Body)
	first := make([]byte, len("retry: 5000\n\n"))
	if _, err := io.ReadFull(body, first); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if string(first) != "retry: 5000\n\n" {
		t.Fatalf("stream starts with %q", first)
	}

	s := say(t, e.ten, "l1", "hi")
	for _, wantType := range []string{store.EventNewMessage, store.EventConversationUpdate} {
		var lines []string
		for {
			line, err := body.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == "\n" {
				break
			}
			lines = append(lines, line)
		}
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "id: ") || !strings.HasPrefix(lines[1], "data: {") {
			t.Fatalf("%s frame = %q, want exactly an id line then one data line", wantType, lines)
		}
		f, _ := readFrame(bufio.NewReader(strings.NewReader(strings.Join(lines, "") + "\n")))
		p := f.payload(t)
		if p.Type != wantType || p.Data["conversation_id"] != s.Conversation.ID || p.Data["lead_id"] != "l1" {
			t.Fatalf("payload %s, want type %s for conversation %s and lead l1", f.Data, wantType, s.Conversation.ID)
		}
	}
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestHeartbeat(t *testing.T) {
	e := newEnv(t, Options{Heartbeat: 50 * time.Millisecond}, false)
	c := e.open(t, e.streamURL(e.ten.ID()), "")
	start := time.Now()
	var beats int
	for time.Since(start) < 500*time.Millisecond {
		f, ok := c.next(t, time.Second)
		if !ok {
			t.Fatal("stream ended")
		}
		p := f.payload(t)
		if p.Type != TypeHeartbeat || f.HasID || f.HasEvent {
			t.Fatalf("frame %+v, want an unnamed heartbeat without id", f)
		}
		if ts, _ := p.Data["timestamp"].(string); !timestampRE.MatchString(ts) {
			t.Fatalf("timestamp %q is not RFC 3339 UTC with milliseconds", ts)
		}
		beats++
	}
	// 10 at the nominal cadence; allow for a loaded machine, not for 30 s.
	if beats < 4 || beats > 11 {
		t.Fatalf("%d heartbeats in 500ms at a 50ms cadence", beats)
	}

	// The default cadence sends none in the same time.
	e2 := newEnv(t, Options{}, false)
	e2.open(t, e2.streamURL(e2.ten.ID()), "").quiet(t, 200*time.Millisecond)
}

func TestStreamReset(t *testing.T) {
	e := newEnv(t, Options{ReplayBatch: 2}, false)
	u := e.streamURL(e.ten.ID())
	for i := range 3 {
		say(t, e.ten, "l1", "old "+strconv.Itoa(i)) // ids 1..6
	}
	if _, err := e.st.PruneEvents(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// Everything expired, nothing held: oldest_id 0, then live.
	c := e.open(t, u, "2")
	expectReset(t, c, 0)
	say(t, e.ten, "l1", "new") // ids 7, 8
	for _, want := range []int64{7, 8} {
		if got := c.nextEvent(t, 5*time.Second).seq(t); got != want {
			t.Fatalf("live id %d, want %d", got, want)
		}
	}

	for _, tc := range []struct {
		name, last string
		reset      bool
	}{
		{"expired id", "2", true},
		{"id from another database", "1000", true},
		{"id at the pruned edge", "6", false},
		{"id zero", "0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.open(t, u, tc.last)
			if tc.reset {
				expectReset(t, c, 7)
			}
			for _, want := range []int64{7, 8} {
				f := c.nextEvent(t, 5*time.Second)
				if f.payload(t).Type == TypeStreamReset {
					t.Fatalf("unexpected stream_reset for Last-Event-ID %s", tc.last)
				}
				if got := f.seq(t); got != want {
					t.Fatalf("replayed id %d, want %d", got, want)
				}
			}
			c.quiet(t, 50*time.Millisecond)
		})
	}
}

func expectReset(t *testing.T, c *client, oldest int64) {
	t.Helper()
	f := c.nextEvent(t, 5*time.Second)
	p := f.payload(t)
	if p.Type != TypeStreamReset || f.HasID {
		t.Fatalf("frame %+v, want stream_reset without id", f)
	}
	if got, _ := p.Data["oldest_id"].(float64); int64(got) != oldest {
		t.Fatalf("oldest_id %v, want %d", p.Data["oldest_id"], oldest)
	}
}

func TestTypingIsLiveOnly(t *testing.T) {
	e := newEnv(t, Options{}, false)
	s := say(t, e.ten, "l1", "hi") // ids 1, 2
	conv := s.Conversation.ID
	mine := e.open(t, e.streamURL(e.ten.ID(), "lead_id", "l1"), "")
	other := e.open(t, e.streamURL(e.ten.ID(), "lead_id", "l2"), "")

	typing, err := store.NewEvent(e.ten.ID(), store.EventTyping, conv, "l1", "", map[string]any{
		"conversation_id": conv, "lead_id": "l1", "is_typing": true, "role": "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	e.b.PublishLive(typing)
	f := mine.nextEvent(t, 5*time.Second)
	if p := f.payload(t); p.Type != store.EventTyping || f.HasID || f.HasEvent || p.Data["is_typing"] != true {
		t.Fatalf("frame %+v, want a typing event without id", f)
	}
	say(t, e.ten, "l2", "yo") // ids 3, 4: the other lead's first event is its own
	if p := other.nextEvent(t, 5*time.Second).payload(t); p.Type != store.EventNewMessage || p.Data["lead_id"] != "l2" {
		t.Fatalf("lead l2's subscriber got %+v first", p)
	}

	// A replay from the start holds the stored events only.
	c := e.open(t, e.streamURL(e.ten.ID()), "0")
	for _, want := range []int64{1, 2, 3, 4} {
		f := c.nextEvent(t, 5*time.Second)
		if f.payload(t).Type == store.EventTyping || f.seq(t) != want {
			t.Fatalf("replay frame %+v, want id %d", f, want)
		}
	}
	c.quiet(t, 50*time.Millisecond)
}

func TestFiltersIsolate(t *testing.T) {
	e := newEnv(t, Options{}, false)
	ctx := context.Background()
	other, _ := storetest.Tenant(t, e.st, "globex")
	ch, err := e.ten.CreateChannel(ctx, store.ChannelInput{Name: ptr("site"), Type: ptr("web")})
	if err != nil {
		t.Fatal(err)
	}
	filters := []struct {
		query  []string
		filter store.EventFilter
		check  func(payload) bool
	}{
		{nil, store.EventFilter{}, func(payload) bool { return true }},
		{[]string{"lead_id", "la"}, store.EventFilter{LeadID: "la"},
			func(p payload) bool { return p.Data["lead_id"] == "la" }},
		{[]string{"channel_id", ch.ID}, store.EventFilter{ChannelID: ch.ID}, nil},
		{[]string{"types", "status_change,message_status"},
			store.EventFilter{Types: map[string]bool{store.EventStatusChange: true, store.EventMessageStatus: true}},
			func(p payload) bool { return p.Type == store.EventStatusChange || p.Type == store.EventMessageStatus }},
	}
	live := make([]*client, len(filters))
	for i, f := range filters {
		live[i] = e.open(t, e.streamURL(e.ten.ID(), f.query...), "")
	}
	otherLive := e.open(t, e.streamURL(other.ID()), "")

	// The first write creates conversation convA of lead la on no channel.
	convA := say(t, e.ten, "la", "1").Conversation.ID
	convLive := e.open(t, e.streamURL(e.ten.ID(), "conversation_id", convA), "")
	onChannel := func(lead string) store.Stored {
		s, err := e.ten.AddMessage(ctx, store.MessageInput{LeadID: lead, CreateLead: true, ChannelID: ch.ID,
			Role: store.RoleUser, Content: "on channel", Status: store.MsgSent})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	onChannel("la")
	say(t, e.ten, "lb", "2")
	sb := onChannel("lb")
	say(t, e.ten, "la", "3")
	if _, err := e.ten.SetMessageStatus(ctx, sb.Message.ID, store.MsgDelivered); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ten.UpdateConversation(ctx, convA, store.ConversationPatch{Status: ptr(store.StatusArchived)}); err != nil {
		t.Fatal(err)
	}
	otherConv := say(t, other, "la", "same lead id, other tenant").Conversation.ID

	expectIDs := func(c *client, f store.EventFilter, check func(payload) bool, ten *store.Tenant, after int64) {
		t.Helper()
		want := slices.DeleteFunc(stored(t, ten, f), func(id int64) bool { return id <= after })
		var got []int64
		for range want {
			fr := c.nextEvent(t, 5*time.Second)
			if check != nil && !check(fr.payload(t)) {
				t.Fatalf("filter %+v let through %s", f, fr.Data)
			}
			got = append(got, fr.seq(t))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("filter %+v: got ids %v, want %v", f, got, want)
		}
		c.quiet(t, 50*time.Millisecond)
	}
	for i, f := range filters {
		expectIDs(live[i], f.filter, f.check, e.ten, 0)
		// The same filter replayed from the start gives the same ids.
		expectIDs(e.open(t, e.streamURL(e.ten.ID(), append(f.query, "last_event_id", "0")...), ""),
			f.filter, f.check, e.ten, 0)
	}
	convCheck := func(p payload) bool { return p.Data["conversation_id"] == convA }
	// convLive subscribed after convA's first two events: live only after them.
	expectIDs(convLive, store.EventFilter{ConversationID: convA}, convCheck, e.ten, 2)
	expectIDs(otherLive, store.EventFilter{}, func(p payload) bool { return p.Data["conversation_id"] == otherConv }, other, 0)

	// Sanity: each filter selected something, and not everything.
	all := len(stored(t, e.ten, store.EventFilter{}))
	for _, f := range filters[1:] {
		if n := len(stored(t, e.ten, f.filter)); n == 0 || n == all {
			t.Fatalf("filter %+v selects %d of %d events: test data too uniform", f.filter, n, all)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestReplaySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	st1 := storetest.Open(t, path)
	e1 := startEnv(t, st1, Options{}, false)
	tenant := e1.ten.ID()
	c := e1.open(t, e1.streamURL(tenant), "")
	for i := range 5 {
		say(t, e1.ten, "l1", strconv.Itoa(i)) // ids 1..10
	}
	var last int64
	for range 4 {
		last = c.nextEvent(t, 5*time.Second).seq(t)
	}
	c.close()
	for i := range 3 {
		say(t, e1.ten, "l2", strconv.Itoa(i)) // ids 11..16, written while the client is away
	}
	if err := e1.b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	e1.srv.Close()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := storetest.Open(t, path)
	b2 := New(st2, Options{Logger: quiet})
	st2.OnEvents(b2.Publish)
	e2 := &env{st: st2, b: b2, ten: st2.Tenant(tenant)}
	e2.srv = serveBroker(t, b2, false)
	c2 := e2.open(t, e2.streamURL(tenant), strconv.FormatInt(last, 10))
	for want := last + 1; want <= 16; want++ {
		if got := c2.nextEvent(t, 5*time.Second).seq(t); got != want {
			t.Fatalf("after restart got id %d, want %d", got, want)
		}
	}
	say(t, e2.ten, "l1", "after restart")
	for _, want := range []int64{17, 18} {
		if got := c2.nextEvent(t, 5*time.Second).seq(t); got != want {
			t.Fatalf("new id %d, want %d", got, want)
		}
	}
}

func TestOffStackRaisesPanics(t *testing.T) {
	if got := offStack(func() int { return 42 }); got != 42 {
		t.Fatalf("offStack returned %d, want 42", got)
	}
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	offStack(func() int { panic(http.ErrAbortHandler) })
}
