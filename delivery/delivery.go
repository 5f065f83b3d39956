// Package delivery is the outbox worker: it sends every outbound POST of
// Parley, postbacks and webhooks alike (API.md §3.6).
//
// It is its own package because all outbound deliveries share one set of
// promises that are easy to get wrong one caller at a time: each row the
// store queued in the transaction of its fact is sent at least once, signed,
// retried on a schedule, in order per conversation (per lead for lead.*
// webhooks), and never blocks intake, another conversation or another
// destination. Peers get this wrong in both directions: Chatwoot sends a
// webhook once and loses it on the first error; Evolution retries inline and
// stalls its whole pipeline behind one dead receiver. Here the store holds
// the queue (so a kill -9 loses nothing: an interrupted attempt is simply
// sent again), and the worker sends the head of each key (destination and
// conversation, or destination and lead), several keys of a destination at
// once, so a failing or slow conversation only ever holds its own later
// deliveries. Order per destination was tried first: one failing postback
// then held every other lead's answer for its whole retry schedule, and a
// 200 ms receiver capped a tenant at 5 answers per second.
package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
)

// Store is what the worker needs from the outbox; *store.Store satisfies it.
type Store interface {
	// DeliveryQueues lists the destinations with pending deliveries and the
	// earliest next attempt of their keys' heads, in destination order.
	DeliveryQueues(ctx context.Context) ([]store.DeliveryQueue, error)
	// DeliveryHeads returns up to limit heads (the oldest pending delivery
	// of a key) of a destination, earliest next attempt first.
	DeliveryHeads(ctx context.Context, destination string, limit int) ([]store.Delivery, error)
	// DeliverySecret returns the key a delivery is signed with.
	DeliverySecret(ctx context.Context, d store.Delivery) (string, error)
	// RecordAttempt stores an attempt's outcome.
	RecordAttempt(ctx context.Context, tenant, id string, a store.Attempt) error
}

var _ Store = (*store.Store)(nil)

// Defaults applied by New to zero Options fields.
const (
	// DefaultTimeout bounds one attempt (PARLEY_DELIVERY_TIMEOUT): long enough
	// for a receiver that does real work before answering, short enough that a
	// dead one is retried on schedule rather than holding a slot for minutes.
	DefaultTimeout = 30 * time.Second
	// DefaultConcurrency is how many requests may be in flight to one
	// destination (PARLEY_DELIVERY_CONCURRENCY, API.md §3.6): a receiver
	// that takes 200 ms per request then gets about 80 deliveries a second,
	// and a burst of answers for different leads is not queued one behind
	// another, while one tenant cannot open hundreds of connections to a
	// gateway that may count them.
	DefaultConcurrency = 16
	// DefaultMaxDestinations bounds the worker as a whole: at most this many
	// destinations' worth of requests (times the concurrency) are in flight
	// at once. Each request is one goroutine and one connection; 64 is how
	// many destinations could be sending before concurrency per destination
	// existed, so as many hanging receivers as then must pile up before a
	// healthy one waits, and a burst of them still cannot exhaust file
	// descriptors.
	DefaultMaxDestinations = 64
)

// DefaultSchedule is PARLEY_DELIVERY_RETRY_SCHEDULE's default (1m,5m,30m):
// three retries spread over about half an hour ride out a receiver's deploy
// or brief outage without hammering it.
var DefaultSchedule = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute}

const (
	// storeBackoff is how long the dispatcher waits after a store error, and
	// a key after an attempt that could not be recorded, before trying
	// again, so that a locked or failing database is not hammered in a loop.
	storeBackoff = time.Second
	// recordTimeout bounds writing an attempt's outcome. The write does not
	// inherit Run's cancellation: an attempt that got an answer is recorded
	// even during shutdown, which saves the receiver a duplicate.
	recordTimeout = 5 * time.Second
)

// Options configures New. The zero value is the production configuration.
type Options struct {
	// Client sends the requests. Nil means a netguard client, whose SSRF
	// guard checks every dialed address (unless AllowPrivate). Its
	// CheckRedirect is always replaced: a delivery never follows a redirect
	// (a 3xx is a final failure), because a receiver that moved must be
	// re-registered, not silently followed.
	Client *http.Client
	// AllowPrivate turns the SSRF guard off when Client is nil
	// (PARLEY_ALLOW_PRIVATE_NETWORKS, for local integration tests).
	AllowPrivate bool
	// Timeout bounds each attempt, connection and answer included
	// (PARLEY_DELIVERY_TIMEOUT; DefaultTimeout when zero).
	Timeout time.Duration
	// Schedule is the wait before each retry: N entries mean N retries after
	// the first attempt. Nil means DefaultSchedule; an empty, non-nil slice
	// (what ParseSchedule returns for "") means no retries.
	Schedule []time.Duration
	// Concurrency bounds the requests in flight to one destination
	// (PARLEY_DELIVERY_CONCURRENCY; DefaultConcurrency when zero).
	Concurrency int
	// MaxInFlight bounds the requests in flight to all destinations together
	// (DefaultMaxDestinations times Concurrency when zero).
	MaxInFlight int
	// Logger receives one line per attempt (delivered ones at Debug) and
	// store errors (slog.Default when nil).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnAttempt, when set, is called after every recorded attempt with the
	// delivery's kind (postback or webhook), the outcome (delivered, retry or
	// failed) and how long the exchange took: a hook for metrics. It must
	// not block.
	OnAttempt func(kind, outcome string, d time.Duration)
	// OnQueued, when set, is called as a delivery's first attempt starts with
	// how long it waited since it was queued (behind the earlier deliveries
	// of its conversation, or for a free slot): a hook for metrics. It must
	// not block.
	OnQueued func(kind string, waited time.Duration)
}

// Attempt outcomes passed to Options.OnAttempt.
const (
	OutcomeDelivered = "delivered" // a 2xx arrived in time
	OutcomeRetry     = "retry"     // it failed and another attempt is scheduled
	OutcomeFailed    = "failed"    // it failed for good (or manual retry only)
)

// Worker sends the outbox's pending deliveries. Create it with New, start it
// with Run, and wake it with Notify after a commit that queued deliveries.
type Worker struct {
	st          Store
	client      *http.Client
	timeout     time.Duration
	schedule    []time.Duration
	concurrency int
	maxInFlight int
	log         *slog.Logger
	now         func() time.Time
	onAttempt   func(kind, outcome string, d time.Duration)
	onQueued    func(kind string, waited time.Duration)

	wake chan struct{}    // Notify → dispatcher, capacity 1 (wake-ups coalesce)
	done chan attemptDone // attempts → dispatcher, one message per attempt

	mu       sync.Mutex
	inFlight map[string]int // destination → requests in flight, for InFlight
}

// New returns a Worker over st; zero Options fields take their defaults.
func New(st Store, opts Options) *Worker {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Schedule == nil {
		opts.Schedule = DefaultSchedule
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxDestinations * opts.Concurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var client http.Client
	if opts.Client != nil {
		client = *opts.Client
	} else {
		client = *netguard.NewClient(netguard.Options{AllowPrivate: opts.AllowPrivate, Timeout: opts.Timeout,
			MaxIdleConnsPerHost: opts.Concurrency})
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Worker{
		st:          st,
		client:      &client,
		timeout:     opts.Timeout,
		schedule:    append([]time.Duration(nil), opts.Schedule...),
		concurrency: opts.Concurrency,
		maxInFlight: opts.MaxInFlight,
		log:         opts.Logger,
		now:         opts.Now,
		onAttempt:   opts.OnAttempt,
		onQueued:    opts.OnQueued,
		wake:        make(chan struct{}, 1),
		done:        make(chan attemptDone),
		inFlight:    map[string]int{},
	}
}

// Notify wakes the worker to look for new deliveries. It never blocks and
// may be called before Run (main wires it with st.OnOutbox(w.Notify)).
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// InFlight returns how many requests are in flight per destination (the
// tenant id, a space and scheme://host:port), for metrics.
func (w *Worker) InFlight() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.inFlight))
	for d, n := range w.inFlight {
		out[d] = n
	}
	return out
}
