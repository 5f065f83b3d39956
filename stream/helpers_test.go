package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

// env is a real store, a broker wired as its sink and an HTTP server whose
// handler calls Serve, as the web layer will.
type env struct {
	st  *store.Store
	b   *Broker
	srv *httptest.Server
	ten *store.Tenant
}

// newEnv starts an env on a fresh store. smallBufs makes the server's
// sockets' send buffers tiny, so that a client that stops reading blocks
// the server's writes quickly.
func newEnv(t *testing.T, opts Options, smallBufs bool) *env {
	t.Helper()
	return startEnv(t, storetest.New(t), opts, smallBufs)
}

func startEnv(t *testing.T, st *store.Store, opts Options, smallBufs bool) *env {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	b := New(st, opts)
	st.OnEvents(b.Publish)
	srv := serveBroker(t, b, smallBufs)
	ten, _ := storetest.Tenant(t, st, "acme")
	return &env{st: st, b: b, srv: srv, ten: ten}
}

// serveBroker starts an HTTP server for b, shut down at the end of the test.
func serveBroker(t *testing.T, b *Broker, smallBufs bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(testHandler(b))
	if smallBufs {
		srv.Listener = smallBufListener{srv.Listener}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { b.Shutdown(context.Background()) }) // runs before srv.Close
	return srv
}

// testHandler is the web layer's part in miniature: tenant from the query
// instead of a key, filters, Last-Event-ID from the header or query.
func testHandler(b *Broker) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sub := Subscription{TenantID: q.Get("tenant"), Filter: store.EventFilter{
			LeadID: q.Get("lead_id"), ConversationID: q.Get("conversation_id"), ChannelID: q.Get("channel_id")}}
		if v := q.Get("types"); v != "" {
			sub.Filter.Types = map[string]bool{}
			for _, typ := range strings.Split(v, ",") {
				sub.Filter.Types[typ] = true
			}
		}
		last := r.Header.Get("Last-Event-ID")
		if last == "" {
			last = q.Get("last_event_id")
		}
		if last != "" {
			id, err := strconv.ParseInt(last, 10, 64)
			if err != nil {
				http.Error(w, "bad Last-Event-ID", http.StatusBadRequest)
				return
			}
			sub.LastEventID, sub.HasLastEventID = id, true
		}
		if err := b.Serve(w, r, sub); errors.Is(err, ErrTooManyStreams) || errors.Is(err, ErrClosed) {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// streamURL builds the stream URL of tenant with extra query parameters.
func (e *env) streamURL(tenant string, kv ...string) string {
	q := url.Values{"tenant": {tenant}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return e.srv.URL + "/?" + q.Encode()
}

// frame is one SSE event as read off the wire.
type frame struct {
	ID, Event, Retry, Data string
	HasID, HasEvent        bool
	at                     time.Time // when the client read it
}

// payload is a frame's data line decoded.
type payload struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

func (f frame) payload(t testing.TB) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal([]byte(f.Data), &p); err != nil {
		t.Fatalf("frame data %q is not JSON: %v", f.Data, err)
	}
	return p
}

func (f frame) seq(t testing.TB) int64 {
	t.Helper()
	n, err := strconv.ParseInt(f.ID, 10, 64)
	if err != nil {
		t.Fatalf("frame id %q: %v", f.ID, err)
	}
	return n
}

// readFrame reads one event (lines up to a blank line), per the SSE grammar.
func readFrame(br *bufio.Reader) (frame, error) {
	var f frame
	var data []string
	seen := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			f.Data = strings.Join(data, "\n")
			return f, nil
		}
		seen = true
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			f.ID, f.HasID = value, true
		case "event":
			f.Event, f.HasEvent = value, true
		case "retry":
			f.Retry = value
		case "data":
			data = append(data, value)
		}
	}
}

// client is an SSE client reading frames in the background.
type client struct {
	resp   *http.Response
	frames chan frame
	err    chan error // receives the read error (io.EOF) when the stream ends
	cancel context.CancelFunc
}

// dial opens a stream; lastID "" sends no Last-Event-ID.
func dial(t testing.TB, u, lastID string) *client {
	t.Helper()
	c, err := tryDial(u, lastID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func tryDial(u, lastID string) (*client, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, &statusError{resp.StatusCode}
	}
	c := &client{resp: resp, frames: make(chan frame, 4096), err: make(chan error, 1), cancel: cancel}
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			f, err := readFrame(br)
			if err != nil {
				c.err <- err
				close(c.frames)
				return
			}
			f.at = time.Now()
			c.frames <- f
		}
	}()
	return c, nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }

func (c *client) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next frame, failing the test after timeout; ok is false
// when the stream ended.
func (c *client) next(t testing.TB, timeout time.Duration) (frame, bool) {
	t.Helper()
	select {
	case f, ok := <-c.frames:
		return f, ok
	case <-time.After(timeout):
		t.Fatalf("no frame within %v", timeout)
		return frame{}, false
	}
}

// nextEvent skips heartbeats and returns the next event frame.
func (c *client) nextEvent(t testing.TB, timeout time.Duration) frame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, ok := c.next(t, time.Until(deadline))
		if !ok {
			t.Fatalf("stream ended: %v", <-c.err)
		}
		if f.Data != "" && f.payload(t).Type != TypeHeartbeat {
			return f
		}
	}
}

// open dials and consumes the first frame, so that the subscription is
// registered when it returns.
func (e *env) open(t testing.TB, u, lastID string) *client {
	t.Helper()
	c := dial(t, u, lastID)
	f, _ := c.next(t, 5*time.Second)
	if f.Retry == "" {
		t.Fatalf("first frame %+v has no retry", f)
	}
	return c
}

// quiet asserts that no event frame arrives within d.
func (c *client) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	timer := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if ok && f.Data != "" && f.payload(t).Type != TypeHeartbeat {
				t.Fatalf("unexpected frame %+v", f)
			}
		case <-timer:
			return
		}
	}
}

// say stores a user message from lead (emits new_message and
// conversation_update).
func say(t testing.TB, ten *store.Tenant, lead, content string) store.Stored {
	t.Helper()
	s, err := ten.AddMessage(context.Background(), store.MessageInput{LeadID: lead, CreateLead: true,
		Role: store.RoleUser, Content: content, Status: store.MsgDelivered})
	if err != nil {
		t.Fatalf("add message: %v", err)
	}
	return s
}

// stored returns the ids of the tenant's stored events that f matches.
func stored(t testing.TB, ten *store.Tenant, f store.EventFilter) []int64 {
	t.Helper()
	ctx := context.Background()
	bounds, err := ten.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ten.EventsAfter(ctx, 0, bounds.Last, f, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range evs {
		if f.Match(&evs[i]) {
			ids = append(ids, evs[i].Seq)
		}
	}
	return ids
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
