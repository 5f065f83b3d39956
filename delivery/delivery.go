// Package delivery is the outbox worker: it sends every outbound POST of
// Parley, postbacks and webhooks alike (API.md §3.6).
//
// It is its own package because all outbound deliveries share one set of
// promises that are easy to get wrong one caller at a time: each row the
// store queued in the transaction of its fact is sent at least once, signed,
// retried on a schedule, in order per destination, and never blocks intake
// or another destination. Peers get this wrong in both directions: Chatwoot
// sends a webhook once and loses it on the first error; Evolution retries
// inline and stalls its whole pipeline behind one dead receiver. Here the
// store holds the queue (so a kill -9 loses nothing: an interrupted attempt
// is simply sent again), and the worker holds at most one goroutine — a
// lane — per destination, so a slow or dead destination only ever holds its
// own lane.
package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
)

// Store is what the worker needs from the outbox; *store.Store satisfies it.
type Store interface {
	// PendingDestinations lists the destinations with pending deliveries.
	PendingDestinations(ctx context.Context) ([]string, error)
	// HeadDelivery returns the oldest pending delivery of a destination.
	HeadDelivery(ctx context.Context, destination string) (store.Delivery, bool, error)
	// NextDeliveryDue returns the earliest next attempt of any pending delivery.
	NextDeliveryDue(ctx context.Context) (time.Time, bool, error)
	// DeliverySecret returns the key a delivery is signed with.
	DeliverySecret(ctx context.Context, d store.Delivery) (string, error)
	// RecordAttempt stores an attempt's outcome.
	RecordAttempt(ctx context.Context, id string, a store.Attempt) error
}

var _ Store = (*store.Store)(nil)

// Defaults applied by New to zero Options fields.
const (
	// DefaultTimeout bounds one attempt (PARLEY_DELIVERY_TIMEOUT): long enough
	// for a receiver that does real work before answering, short enough that a
	// dead one is retried on schedule rather than holding its lane for minutes.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxLanes is how many destinations may be sending at once. Each
	// lane is one goroutine and at most one open connection; 64 keeps a burst
	// of hanging receivers from exhausting file descriptors while leaving
	// plenty of room for healthy ones.
	DefaultMaxLanes = 64
)

// DefaultSchedule is PARLEY_DELIVERY_RETRY_SCHEDULE's default (1m,5m,30m):
// three retries spread over about half an hour ride out a receiver's deploy
// or brief outage without hammering it.
var DefaultSchedule = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute}

const (
	// recheckInterval is the longest a destination whose head waits for a
	// retry goes without its head being read again. The wake-up the store
	// sends after a commit does not say which destination changed, so this
	// bounds how long a manual retry queued behind a long backoff can wait,
	// at the cost of one indexed query per waiting destination per minute.
	recheckInterval = time.Minute
	// storeBackoff is how long a lane or the dispatcher waits after a store
	// error before trying again, so that a locked or failing database is not
	// hammered in a loop.
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
	// MaxLanes bounds how many destinations send at once (DefaultMaxLanes
	// when zero).
	MaxLanes int
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
	st        Store
	client    *http.Client
	timeout   time.Duration
	schedule  []time.Duration
	maxLanes  int
	log       *slog.Logger
	now       func() time.Time
	onAttempt func(kind, outcome string, d time.Duration)

	wake chan struct{} // Notify → dispatcher, capacity 1 (wake-ups coalesce)
	done chan laneExit // lanes → dispatcher, one message per lane
}

// laneExit is a lane's last word: its destination and, when its head waits
// for a retry (or the store failed), when to look again.
type laneExit struct {
	dest      string
	notBefore time.Time
}

// New returns a Worker over st; zero Options fields take their defaults.
func New(st Store, opts Options) *Worker {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Schedule == nil {
		opts.Schedule = DefaultSchedule
	}
	if opts.MaxLanes <= 0 {
		opts.MaxLanes = DefaultMaxLanes
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
		client = *netguard.NewClient(netguard.Options{AllowPrivate: opts.AllowPrivate, Timeout: opts.Timeout})
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Worker{
		st:        st,
		client:    &client,
		timeout:   opts.Timeout,
		schedule:  append([]time.Duration(nil), opts.Schedule...),
		maxLanes:  opts.MaxLanes,
		log:       opts.Logger,
		now:       opts.Now,
		onAttempt: opts.OnAttempt,
		wake:      make(chan struct{}, 1),
		done:      make(chan laneExit),
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

// Run sends deliveries until ctx ends, starting with whatever the store
// holds as pending. When ctx ends, attempts in flight are cancelled and not
// recorded (they stay pending and are sent again on the next start); Run
// returns once every lane has stopped. Call it once at a time.
func (w *Worker) Run(ctx context.Context) {
	ds := &dispatchState{lanes: map[string]bool{}, notBefore: map[string]time.Time{}}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := w.dispatch(ctx, ds)
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(next.Sub(w.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			for len(ds.lanes) > 0 {
				delete(ds.lanes, (<-w.done).dest)
			}
			return
		case <-w.wake:
		case <-timer.C:
		case exit := <-w.done:
			w.laneDone(exit, ds)
		}
		// Take every other lane exit already waiting, so that a burst of
		// them costs one pass over the store, not one each.
		for drained := false; !drained; {
			select {
			case exit := <-w.done:
				w.laneDone(exit, ds)
			default:
				drained = true
			}
		}
	}
}

// dispatchState is what the dispatcher (Run's goroutine, and only it) knows
// about destinations.
type dispatchState struct {
	lanes     map[string]bool      // destinations with a running lane
	notBefore map[string]time.Time // destinations whose head is not due yet
	last      string               // the destination whose lane started last
}

// laneDone forgets a stopped lane and remembers when its destination is due.
func (w *Worker) laneDone(exit laneExit, ds *dispatchState) {
	delete(ds.lanes, exit.dest)
	if exit.notBefore.IsZero() {
		return
	}
	if recheck := w.now().Add(recheckInterval); exit.notBefore.After(recheck) {
		exit.notBefore = recheck
	}
	ds.notBefore[exit.dest] = exit.notBefore
}

// dispatch starts a lane for every pending destination that has none and is
// not known to be waiting, up to maxLanes, and returns when to look again
// (zero: only when woken). A lane that stops always makes the dispatcher
// look again, so a delivery queued while its destination's lane was
// stopping is never stranded. When lanes are scarce, destinations take
// turns in round robin, so that busy ones cannot starve the rest.
func (w *Worker) dispatch(ctx context.Context, ds *dispatchState) time.Time {
	if ctx.Err() != nil {
		return time.Time{}
	}
	now := w.now()
	dests, err := w.st.PendingDestinations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("delivery: list destinations", "err", err)
		}
		return now.Add(storeBackoff)
	}
	slices.Sort(dests)
	if i := slices.IndexFunc(dests, func(d string) bool { return d > ds.last }); i > 0 {
		dests = slices.Concat(dests[i:], dests[:i]) // start after the last one started
	}
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	waiting := make(map[string]time.Time, len(ds.notBefore))
	for _, dest := range dests {
		if ds.lanes[dest] {
			continue
		}
		if t, ok := ds.notBefore[dest]; ok && t.After(now) {
			waiting[dest] = t
			earliest(t)
			continue
		}
		if len(ds.lanes) >= w.maxLanes {
			continue // a lane that stops wakes the dispatcher
		}
		ds.lanes[dest], ds.last = true, dest
		go w.lane(ctx, dest)
	}
	ds.notBefore = waiting // destinations no longer pending are forgotten
	// A safety net: the store's earliest due time, when it lies ahead.
	if due, ok, err := w.st.NextDeliveryDue(ctx); err == nil && ok && due.After(now) {
		earliest(due)
	}
	return next
}

// lane sends one destination's deliveries, oldest first, one at a time, and
// stops when none is due. Only the head (oldest pending) delivery is ever
// sent: while it waits for a retry, later ones wait too, so that order holds
// per destination.
func (w *Worker) lane(ctx context.Context, dest string) {
	exit := laneExit{dest: dest}
	defer func() { w.done <- exit }()
	for ctx.Err() == nil {
		d, ok, err := w.st.HeadDelivery(ctx, dest)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("delivery: read head", "destination", dest, "err", err)
			}
			exit.notBefore = w.now().Add(storeBackoff)
			return
		}
		if !ok {
			return
		}
		if d.NextAttemptAt != nil && d.NextAttemptAt.Std().After(w.now()) {
			exit.notBefore = d.NextAttemptAt.Std()
			return
		}
		if !w.attempt(ctx, d) {
			exit.notBefore = w.now().Add(storeBackoff)
			return
		}
	}
}
