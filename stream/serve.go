package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/parley-dev/parley/store"
)

// Live-only event types written by this package (API.md §2); typing is
// store.EventTyping, published through PublishLive.
const (
	// TypeHeartbeat is sent every Options.Heartbeat with the server's time.
	TypeHeartbeat = "heartbeat"
	// TypeStreamReset tells a resuming client that events it missed are gone.
	TypeStreamReset = "stream_reset"
)

// timestampLayout is API.md §1's time format with millisecond precision.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// Subscription is what the web layer hands to Serve once it has
// authenticated the request and parsed its filters and Last-Event-ID
// (header, or last_event_id query parameter).
type Subscription struct {
	TenantID       string            // the authenticated key's tenant
	KeyID          string            // the authenticated key, re-checked while the stream is open
	Filter         store.EventFilter // from lead_id, conversation_id, channel_id, types
	LastEventID    int64             // meaningful only when HasLastEventID
	HasLastEventID bool              // the client resumes: replay (and maybe stream_reset) first
}

// errGone reports a failed write: the client left or was cut. It ends the
// stream normally.
var errGone = errors.New("stream: client gone")

// errNotFlushable is Serve's error when go-sse refused the ResponseWriter
// (it cannot flush); go-sse has then answered 500 itself.
var errNotFlushable = errors.New("stream: response writer cannot flush")

// sessionKey carries a *session in the request context from Serve, through
// go-sse's Server, to provider.Subscribe.
type sessionKey struct{}

// session is one Serve call as seen by the provider.
type session struct {
	sub     Subscription
	w       http.ResponseWriter // the handler's own, for headers and write deadlines
	reached bool                // provider.Subscribe ran
	err     error               // what Serve returns
}

// Serve streams the tenant's events matching sub to the client until the
// client leaves, the broker evicts it for being too slow, or Shutdown. The
// caller must have authenticated the request and must not wrap w in
// compression or timeout middleware.
//
// ErrTooManyStreams, ErrTenantStreams and ErrClosed are returned before
// anything is written,
// so the caller can still answer 503. Any other error is returned after the
// stream began (a store failure during replay) and is only for logging. A
// client leaving, an eviction or Shutdown is a nil error.
func (b *Broker) Serve(w http.ResponseWriter, r *http.Request, sub Subscription) error {
	if b.isClosed() {
		return ErrClosed
	}
	sess := &session{sub: sub, w: w}
	b.srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	if !sess.reached {
		return errNotFlushable
	}
	return sess.err
}

func (b *Broker) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// provider is the Broker seen as go-sse's sse.Provider. It is a separate
// type because Broker.Publish takes store events, not sse.Messages: events
// enter through the store, never through go-sse.
type provider struct{ b *Broker }

var _ sse.Provider = (*provider)(nil)

// Subscribe serves the stream of the session Serve put in ctx. Its errors go
// back to Serve rather than to go-sse, whose Server would write them as a
// 500 text body, into a stream already begun.
func (p *provider) Subscribe(ctx context.Context, sub sse.Subscription) error {
	sess, ok := ctx.Value(sessionKey{}).(*session)
	if !ok {
		return errors.New("stream: subscribe without Broker.Serve")
	}
	sess.reached = true
	sess.err = p.b.stream(ctx, sess, sub.Client)
	return nil
}

// Publish refuses go-sse messages: events are published by the store
// through Broker.Publish.
func (p *provider) Publish(*sse.Message, []string) error {
	if p.b.isClosed() {
		return sse.ErrProviderClosed
	}
	return errors.New("stream: publish through Broker.Publish")
}

// Shutdown is Broker.Shutdown, returning ErrProviderClosed on a repeated
// call as go-sse's contract asks.
func (p *provider) Shutdown(ctx context.Context) error {
	first, err := p.b.shutdown(ctx)
	if !first {
		return sse.ErrProviderClosed
	}
	return err
}

// stream runs one subscription: register, first frame and replay (off this
// goroutine: see offStack), live.
func (b *Broker) stream(ctx context.Context, sess *session, c sse.MessageWriter) error {
	sub := sess.sub
	// Registering before the first byte is what makes "every event stored
	// after the first frame reaches the client" true.
	s, err := b.register(sub, http.NewResponseController(sess.w))
	if err != nil {
		return err // nothing written yet: the caller answers 503
	}
	defer b.unregister(s)
	defer s.detach() // runs first: no write deadline once we let go of w

	o := offStack(func() opened { return b.open(ctx, s, sess, c) })
	if o.live {
		b.live(ctx, s, c, o.last)
	}
	return o.err
}

// offStack runs f on a short-lived goroutine, waits for it and returns what
// f returned; a panic in f is raised again here. A stream's goroutine lives
// as long as the stream, parked about 5 KB deep under net/http, echo's
// middleware and go-sse, in an 8 KB stack. One call needing more (net/http's
// first header write takes ~4 KB more, a replay's SQLite reads far more)
// would double that stack, and the runtime halves a stack again only while
// less than a quarter of it is in use: the stream would keep 16 KB to its
// end. Run here, such calls leave it at 8 KB (fanout to 5,000 streams: 18 ->
// 10 KB of goroutine stack per stream, net/http's background reader included).
func offStack[T any](f func() T) T {
	var v T
	var p any
	done := make(chan struct{})
	go func() {
		defer func() {
			p = recover()
			close(done)
		}()
		v = f()
	}()
	<-done
	if p != nil {
		panic(p)
	}
	return v
}

// opened is what open reports: whether the stream goes on to live, the
// highest stored id already sent or covered by the replay, and Serve's error.
type opened struct {
	live bool
	last int64
	err  error
}

// open writes the headers and the first frame, then replays what the client
// missed. The client leaving is not an error.
func (b *Broker) open(ctx context.Context, s *subscriber, sess *session, c sse.MessageWriter) opened {
	sub := sess.sub
	h := sess.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("Connection", "keep-alive")
	// The status is written through w, not left to go-sse's first Send
	// (which flushes the writer it unwrapped): a wrapping writer such as
	// echo's Response then knows the response is committed. Flushing the
	// first frame now fires EventSource.onopen at once.
	sess.w.WriteHeader(http.StatusOK)
	if c.Send(&sse.Message{Retry: b.opts.Retry}) != nil || c.Flush() != nil {
		return opened{}
	}
	if !sub.HasLastEventID {
		return opened{live: true}
	}
	last, err := b.replay(ctx, s, sub, c)
	if errors.Is(err, errGone) || ctx.Err() != nil {
		return opened{}
	}
	if err != nil {
		b.log.Error("stream: replay", "tenant", sub.TenantID, "err", err)
		return opened{err: err}
	}
	return opened{live: true, last: last}
}

// replay sends what the log holds after sub.LastEventID up to the last id
// issued now, preceded by stream_reset when that id is no longer covered.
// It returns the last id issued at its start: the live phase skips ids up to
// it, which the queue may also hold (no gap, no duplicate).
func (b *Broker) replay(ctx context.Context, s *subscriber, sub Subscription, c sse.MessageWriter) (int64, error) {
	t := b.st.Tenant(sub.TenantID)
	bounds, err := t.EventBounds(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream: replay bounds: %w", err)
	}
	after := sub.LastEventID
	if after < bounds.PrunedThrough || after > bounds.Last {
		if c.Send(resetMessage(bounds.Oldest)) != nil {
			return 0, errGone
		}
		if after > bounds.Last {
			after = 0 // an id from another database: all we hold is new to it
		}
	}
	for after < bounds.Last {
		evs, err := t.EventsAfter(ctx, after, bounds.Last, sub.Filter, b.opts.ReplayBatch)
		if err != nil {
			return 0, fmt.Errorf("stream: replay: %w", err)
		}
		for i := range evs {
			// The store filters by conversation, lead and channel in SQL;
			// Match also applies the types filter.
			if sub.Filter.Match(&evs[i]) && c.Send(newMessage(&evs[i])) != nil {
				return 0, errGone
			}
		}
		if c.Flush() != nil || s.dead.Load() {
			return 0, errGone
		}
		if len(evs) < b.opts.ReplayBatch {
			break
		}
		after = evs[len(evs)-1].Seq
	}
	if c.Flush() != nil {
		return 0, errGone
	}
	return bounds.Last, nil
}

// live sends queued events and heartbeats until the stream ends. Each wake-up
// drains what is queued, writes it all and flushes once.
func (b *Broker) live(ctx context.Context, s *subscriber, c sse.MessageWriter, last int64) {
	hb := time.NewTicker(b.opts.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.gone:
			return
		case now := <-hb.C:
			if c.Send(heartbeatMessage(now)) != nil || c.Flush() != nil {
				return
			}
		case <-s.wake:
			// Only this goroutine pops, so the n queued items are there;
			// taking just those keeps a busy publisher from starving Flush.
			// n is 0 when the items of this token went with the last batch.
			n := s.q.len()
			if n == 0 {
				continue
			}
			for ; n > 0; n-- {
				it := s.q.pop()
				if seq := it.ev.Seq; seq == 0 || seq > last {
					if c.Send(it.msg) != nil {
						return
					}
					last = max(last, seq)
				}
			}
			if c.Flush() != nil {
				return
			}
		}
	}
}

// newMessage frames an event: unnamed, id only when stored, payload as data.
func newMessage(ev *store.Event) *sse.Message {
	m := &sse.Message{}
	if ev.Seq != 0 {
		m.ID = sse.ID(strconv.FormatInt(ev.Seq, 10))
	}
	m.AppendData(string(ev.Payload))
	return m
}

func heartbeatMessage(now time.Time) *sse.Message {
	m := &sse.Message{}
	m.AppendData(`{"type":"` + TypeHeartbeat + `","data":{"timestamp":"` + now.UTC().Format(timestampLayout) + `"}}`)
	return m
}

func resetMessage(oldest int64) *sse.Message {
	m := &sse.Message{}
	m.AppendData(`{"type":"` + TypeStreamReset + `","data":{"oldest_id":` + strconv.FormatInt(oldest, 10) + `}}`)
	return m
}
