package stream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/parley-dev/parley/store"
)

// Defaults for Options fields left zero.
const (
	// DefaultHeartbeat keeps idle streams alive through proxies that cut
	// connections silent for 60 s, without costing clients much (API.md §2).
	DefaultHeartbeat = 30 * time.Second
	// DefaultRetry is the reconnection delay told to EventSource in the first
	// frame: long enough not to hammer a restarting server, short enough that
	// an evicted client is back before a human notices.
	DefaultRetry = 5 * time.Second
	// DefaultBuffer is the per-subscriber queue's limit: it absorbs bursts
	// (a whole AI turn is a handful of events, a busy tenant's minute a few
	// hundred). The queue grows to it only while a client lags, at 8 bytes
	// an event, so a full one is 4 KB, 40 MB at DefaultMaxStreams. A client
	// further behind is evicted and replays.
	DefaultBuffer = 512
	// DefaultMaxStreams bounds open streams (a goroutine, a socket and a
	// buffer each) so that a reconnect storm cannot exhaust memory.
	DefaultMaxStreams = 10000
	// DefaultMaxStreamsPerTenant is one tenant's share of MaxStreams, so
	// that one tenant's reconnect storm (or leak) cannot take every stream.
	DefaultMaxStreamsPerTenant = 1000
	// DefaultReauthorize is how often RunReauthorizer checks the keys of
	// open streams: a revoked key's streams close within 2 s (API.md §9).
	DefaultReauthorize = time.Second
	// DefaultReplayBatch is the number of rows read per store query during a
	// replay: big enough that a catch-up is a few queries, small enough that
	// a reader connection is never held for long.
	DefaultReplayBatch = 500
	// DefaultRetention is PARLEY_EVENT_RETENTION's default (API.md §2): a
	// client offline for longer gets stream_reset and refetches state.
	DefaultRetention = 24 * time.Hour
)

// maxPruneEvery caps the pruning period: API.md §2 promises expired events go
// at least every min(retention/2, 1m).
const maxPruneEvery = time.Minute

// shutdownGrace is how long Shutdown lets streams end on their own before it
// forces the stalled ones (blocked in a socket write) with a write deadline.
const shutdownGrace = 250 * time.Millisecond

// ErrTooManyStreams is returned by Serve, before anything is written, when
// MaxStreams streams are open; the web layer answers 503.
var ErrTooManyStreams = errors.New("stream: too many open streams")

// ErrTenantStreams is returned by Serve, before anything is written, when
// the subscription's tenant has MaxStreamsPerTenant streams open; the web
// layer answers 429.
var ErrTenantStreams = errors.New("stream: too many open streams for this tenant")

// ErrClosed is returned by Serve, before anything is written, once Shutdown
// has been called; it wraps go-sse's ErrProviderClosed.
var ErrClosed = errors.Join(errors.New("stream: broker is shut down"), sse.ErrProviderClosed)

// Options tunes a Broker. Zero fields take the Default* values.
type Options struct {
	Heartbeat  time.Duration // interval of heartbeat frames
	Retry      time.Duration // reconnection delay sent in the first frame
	Buffer     int           // per-subscriber queue limit
	MaxStreams int           // open streams allowed at once
	// MaxStreamsPerTenant is the open streams allowed to one tenant.
	MaxStreamsPerTenant int
	// Reauthorize is RunReauthorizer's period.
	Reauthorize time.Duration
	ReplayBatch int           // rows per store read during a replay
	Retention   time.Duration // age after which RunPruner deletes events
	Logger      *slog.Logger  // slog.Default() when nil
}

func (o Options) withDefaults() Options {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.MaxStreamsPerTenant <= 0 {
		o.MaxStreamsPerTenant = DefaultMaxStreamsPerTenant
	}
	if o.Reauthorize <= 0 {
		o.Reauthorize = DefaultReauthorize
	}
	if o.ReplayBatch <= 0 {
		o.ReplayBatch = DefaultReplayBatch
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Broker delivers a store's events to SSE streams. Create it with New, give
// Publish to store.OnEvents, mount Serve behind authentication, run
// RunPruner, and register Shutdown with http.Server.RegisterOnShutdown.
type Broker struct {
	st   *store.Store
	opts Options
	log  *slog.Logger
	srv  *sse.Server // frames and flushes; our provider type behind it

	mu      sync.RWMutex
	tenants map[string][]*subscriber // guarded by mu
	closed  bool                     // guarded by mu
	streams sync.WaitGroup           // one per registered subscriber

	count     atomic.Int64
	evictions atomic.Int64
}

// New returns a Broker reading replays from st. It does not call
// st.OnEvents: main wires st.OnEvents(b.Publish).
func New(st *store.Store, opts Options) *Broker {
	opts = opts.withDefaults()
	b := &Broker{st: st, opts: opts, log: opts.Logger, tenants: make(map[string][]*subscriber)}
	b.srv = &sse.Server{Provider: &provider{b: b}}
	return b
}

// item is one event ready to send: built once per event, shared by pointer
// with every subscriber it goes to.
type item struct {
	ev  *store.Event
	msg *sse.Message
}

func newItem(ev *store.Event) *item { return &item{ev: ev, msg: newMessage(ev)} }

// subscriber is one open stream.
type subscriber struct {
	// Publish reads these for every subscriber of the tenant: kept together.
	filter store.EventFilter
	dead   atomic.Bool   // set by whoever closes gone
	q      queue         // items not taken by the stream yet
	wake   chan struct{} // holds a token once something was pushed to q

	tenant string
	keyID  string        // the API key that opened it ("" = not re-authorized)
	gone   chan struct{} // closed once, by eviction, revocation or Shutdown
	idx    int           // position in b.tenants[tenant], guarded by b.mu

	ctlMu sync.Mutex
	rc    *http.ResponseController // nil once the handler has returned
}

// stop marks s dead and closes gone; it reports whether this call did it.
func (s *subscriber) stop() bool {
	if !s.dead.CompareAndSwap(false, true) {
		return false
	}
	close(s.gone)
	return true
}

// abort makes the stream's pending and future writes fail at once, so that
// a goroutine blocked writing to a client that stopped reading returns.
// It does nothing once the handler has returned: the connection may then
// serve another request.
func (s *subscriber) abort() {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if s.rc != nil {
		_ = s.rc.SetWriteDeadline(time.Now())
	}
}

// detach forgets the response once the handler is done with it.
func (s *subscriber) detach() {
	s.ctlMu.Lock()
	s.rc = nil
	s.ctlMu.Unlock()
}

// Publish queues stored events for their subscribers; it is the store's sink
// (store.OnEvents) and is called in commit order. It never blocks: a
// subscriber whose buffer is full is evicted. Publish keeps pointers into
// evs, which must not be modified afterwards.
func (b *Broker) Publish(evs []store.Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for i := range evs {
		b.fanOut(&evs[i])
	}
}

// PublishLive sends a live-only event (typing) to the matching subscribers
// of its tenant: no id, never stored, never replayed. It never blocks.
func (b *Broker) PublishLive(ev store.Event) {
	ev.Seq = 0
	b.mu.RLock()
	defer b.mu.RUnlock()
	b.fanOut(&ev)
}

// fanOut is Publish for one event; b.mu is read-locked. It allocates the
// event's item, once, and only if someone wants the event; beyond that only
// the queue of a subscriber that lags grows.
func (b *Broker) fanOut(ev *store.Event) {
	var it *item
	for _, s := range b.tenants[ev.TenantID] {
		if s.dead.Load() || !s.filter.Match(ev) {
			continue
		}
		if it == nil {
			it = newItem(ev)
		}
		if !s.q.push(it, b.opts.Buffer) {
			b.evict(s)
			continue
		}
		select {
		case s.wake <- struct{}{}:
		default: // a token is already waiting: the stream will see this item too
		}
	}
}

// evict cuts a subscriber that fell a whole buffer behind. The write
// deadline is set, and the line logged, from another goroutine: both may
// wait (SetWriteDeadline on an HTTP/2 connection, the log's writer) and
// Publish runs inside the store's write path.
func (b *Broker) evict(s *subscriber) {
	if !s.stop() {
		return
	}
	b.evictions.Add(1)
	go func() {
		s.abort()
		b.log.Warn("stream: evicted slow subscriber", "tenant", s.tenant, "buffer", b.opts.Buffer)
	}()
}

// register adds a subscriber to its tenant's index.
func (b *Broker) register(sub Subscription, rc *http.ResponseController) (*subscriber, error) {
	tenant := sub.TenantID
	s := &subscriber{tenant: tenant, keyID: sub.KeyID, filter: sub.Filter, wake: make(chan struct{}, 1),
		gone: make(chan struct{}), rc: rc}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	list := b.tenants[tenant]
	if len(list) >= b.opts.MaxStreamsPerTenant {
		return nil, ErrTenantStreams
	}
	if b.count.Load() >= int64(b.opts.MaxStreams) {
		return nil, ErrTooManyStreams
	}
	s.idx = len(list)
	b.tenants[tenant] = append(list, s)
	b.count.Add(1)
	b.streams.Add(1)
	return s, nil
}

// unregister removes s from the index (swap with the last, O(1)).
func (b *Broker) unregister(s *subscriber) {
	s.dead.Store(true)
	b.mu.Lock()
	list := b.tenants[s.tenant]
	last := len(list) - 1
	list[s.idx] = list[last]
	list[s.idx].idx = s.idx
	list[last] = nil
	if last == 0 {
		delete(b.tenants, s.tenant)
	} else {
		b.tenants[s.tenant] = list[:last]
	}
	b.count.Add(-1)
	b.mu.Unlock()
	b.streams.Done()
}

// RunReauthorizer closes, every Options.Reauthorize until ctx ends, the
// streams whose API key was revoked or whose tenant was deleted since they
// opened (the key is checked only when a stream opens otherwise). It asks
// the store about every key with an open stream in one query; when the store
// cannot answer, it closes nothing and tries again at the next tick.
func (b *Broker) RunReauthorizer(ctx context.Context) {
	t := time.NewTicker(b.opts.Reauthorize)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.reauthorize(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("stream: re-authorize open streams", "err", err)
		}
	}
}

// reauthorize is one pass of RunReauthorizer.
func (b *Broker) reauthorize(ctx context.Context) error {
	b.mu.RLock()
	seen := map[string]bool{}
	var ids []string
	for _, list := range b.tenants {
		for _, s := range list {
			if s.keyID != "" && !seen[s.keyID] {
				seen[s.keyID] = true
				ids = append(ids, s.keyID)
			}
		}
	}
	b.mu.RUnlock()
	if len(ids) == 0 {
		return nil
	}
	active, err := b.st.ActiveKeys(ctx, ids)
	if err != nil {
		return err
	}
	var revoked []*subscriber
	b.mu.RLock()
	for _, list := range b.tenants {
		for _, s := range list {
			if s.keyID != "" && seen[s.keyID] && !active[s.keyID] {
				revoked = append(revoked, s)
			}
		}
	}
	b.mu.RUnlock()
	for _, s := range revoked {
		if s.stop() {
			s.abort() // a stream blocked writing to a client that stopped reading ends too
		}
	}
	if len(revoked) > 0 {
		b.log.Info("stream: closed streams of revoked keys", "streams", len(revoked))
	}
	return nil
}

// Subscribers reports the number of open streams (for metrics).
func (b *Broker) Subscribers() int { return int(b.count.Load()) }

// Evictions reports how many subscribers were cut for being too slow since
// the broker started (for metrics).
func (b *Broker) Evictions() int64 { return b.evictions.Load() }

// RunPruner deletes events older than Retention every min(Retention/2, 1m),
// starting at once, until ctx ends.
func (b *Broker) RunPruner(ctx context.Context) {
	every := max(min(b.opts.Retention/2, maxPruneEvery), time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := b.st.PruneEvents(ctx, b.st.Now().Add(-b.opts.Retention))
		switch {
		case err != nil && ctx.Err() == nil:
			b.log.Error("stream: prune events", "err", err)
		case n > 0:
			b.log.Debug("stream: pruned events", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Shutdown ends every open stream and makes new ones fail with ErrClosed, so
// that http.Server.Shutdown can return. Streams blocked writing to a client
// that does not read are cut after a short grace. It waits for the streams'
// goroutines until ctx ends (returning ctx's error if they outlive it);
// calling it again only waits again.
func (b *Broker) Shutdown(ctx context.Context) error {
	_, err := b.shutdown(ctx)
	return err
}

// shutdown is Shutdown; first reports whether this call closed the broker.
func (b *Broker) shutdown(ctx context.Context) (first bool, err error) {
	b.mu.Lock()
	first = !b.closed
	b.closed = true
	for _, list := range b.tenants {
		for _, s := range list {
			s.stop()
		}
	}
	b.mu.Unlock()

	done := make(chan struct{})
	go func() { b.streams.Wait(); close(done) }()
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return first, nil
	case <-ctx.Done():
		return first, ctx.Err()
	case <-grace.C:
	}
	b.mu.RLock()
	for _, list := range b.tenants {
		for _, s := range list {
			go s.abort()
		}
	}
	b.mu.RUnlock()
	select {
	case <-done:
		return first, nil
	case <-ctx.Done():
		return first, ctx.Err()
	}
}
