// Package metrics owns Parley's Prometheus instruments. It is a package of its
// own because every other part reports into it (HTTP, streams, debounce,
// delivery, the AI provider, the store) while none of them should import
// Prometheus: each takes a plain func or a small interface, and main connects
// them to the instruments here.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every instrument and the registry they live in.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	eventsPublished prometheus.Counter
	fireLateness    prometheus.Histogram
	deliveries      *prometheus.CounterVec
	deliveryTime    *prometheus.HistogramVec
	deliveryQueue   *prometheus.HistogramVec
	providerCalls   *prometheus.CounterVec
	providerTime    *prometheus.HistogramVec
	queueWait       prometheus.Histogram
	writeWait       prometheus.Histogram
	checkpointPause prometheus.Histogram
	walSync         prometheus.Histogram
	backups         *prometheus.CounterVec
}

// latencyBuckets span a cached read (~100 µs) to a slow AI turn (~30 s).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// queueBuckets (the AI queue) reach past the provider timeout: under overload a turn may
// wait minutes in line, and that is the figure to size the cap by.
var queueBuckets = []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// New registers every instrument, with the Go runtime and process collectors
// renamed parley_go_* and parley_process_* (API.md §6: every series is
// prefixed parley_).
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	prometheus.WrapRegistererWithPrefix("parley_", m.reg).MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_http_requests_total",
		Help: "HTTP requests by route pattern, method and status code."}, []string{"route", "method", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern and method (streams: their whole life).", Buckets: latencyBuckets},
		[]string{"route", "method"})
	m.eventsPublished = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_events_published_total",
		Help: "Stored events handed to the stream broker."})
	m.fireLateness = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_debounce_fire_lateness_seconds",
		Help: "How late debounce batches fired after their deadline.", Buckets: latencyBuckets})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_deliveries_total",
		Help: "Postback and webhook attempts by kind and outcome (delivered, retry, failed)."}, []string{"kind", "outcome"})
	m.deliveryTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_delivery_attempt_duration_seconds",
		Help: "Duration of delivery attempts by kind.", Buckets: latencyBuckets}, []string{"kind"})
	m.deliveryQueue = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_delivery_queue_seconds",
		Help: "Time from queueing a delivery to its first attempt, by kind.", Buckets: deliveryQueueBuckets}, []string{"kind"})
	m.providerCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_ai_provider_calls_total",
		Help: "AI provider calls by operation and outcome (ok, error)."}, []string{"op", "outcome"})
	m.providerTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "parley_ai_provider_duration_seconds",
		Help: "AI provider call latency by operation.", Buckets: latencyBuckets}, []string{"op"})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_ai_queue_wait_seconds",
		Help: "Time AI provider calls waited in line for a slot (PARLEY_AI_CONCURRENCY); 0 when one was free.", Buckets: queueBuckets})
	m.writeWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_store_write_wait_seconds",
		Help: "Time a write transaction waited for SQLite's single writer.", Buckets: latencyBuckets})
	m.checkpointPause = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_sqlite_checkpoint_pause_seconds",
		Help: "How long each checkpoint that emptied the WAL held up writes.", Buckets: pauseBuckets})
	m.walSync = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_sqlite_wal_sync_seconds",
		Help: "How long each sync of the WAL took (one per group of commits; the disk's latency).", Buckets: pauseBuckets})
	m.backups = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_backups_total",
		Help: "Scheduled backups by outcome (ok, error)."}, []string{"outcome"})
	m.reg.MustRegister(m.requests, m.requestDuration, m.eventsPublished, m.fireLateness, m.deliveries, m.deliveryTime,
		m.deliveryQueue, m.providerCalls, m.providerTime, m.queueWait, m.writeWait, m.checkpointPause, m.walSync, m.backups)
	return m
}

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched" // 404s of unknown paths: never a label per path
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// EventsPublished counts events handed to the broker.
func (m *Metrics) EventsPublished(n int) { m.eventsPublished.Add(float64(n)) }

// DebounceFired records how late a batch fired (the scheduler's OnFire hook).
func (m *Metrics) DebounceFired(_ string, lateness time.Duration) {
	m.fireLateness.Observe(lateness.Seconds())
}

// DeliveryAttempt records a delivery attempt (the worker's OnAttempt hook).
func (m *Metrics) DeliveryAttempt(kind, outcome string, d time.Duration) {
	m.deliveries.WithLabelValues(kind, outcome).Inc()
	m.deliveryTime.WithLabelValues(kind).Observe(d.Seconds())
}

// ProviderCall records one call to the AI provider.
func (m *Metrics) ProviderCall(op string, err error, d time.Duration) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.providerCalls.WithLabelValues(op, outcome).Inc()
	m.providerTime.WithLabelValues(op).Observe(d.Seconds())
}

// AIQueueWait records how long a provider call waited for a slot (the AI
// queue's OnGrant hook).
func (m *Metrics) AIQueueWait(d time.Duration) { m.queueWait.Observe(d.Seconds()) }

// WriteWait records how long a write waited for the writer connection.
func (m *Metrics) WriteWait(d time.Duration) { m.writeWait.Observe(d.Seconds()) }

// Gauges are read at scrape time from the parts that know them.
type Gauges struct {
	Subscribers    func() int                             // open SSE streams
	Evictions      func() int64                           // slow subscribers disconnected
	BatchesPending func() int                             // debounce batches waiting
	OutboxDepth    func(ctx context.Context) (int, error) // deliveries pending
	AIQueueDepth   func() int                             // provider calls waiting for a slot
	AIInFlight     func() int                             // provider calls holding a slot
}

// Watch registers the scrape-time gauges.
func (m *Metrics) Watch(g Gauges) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_sse_subscribers", Help: "Open SSE streams."},
			func() float64 { return float64(g.Subscribers()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_sse_evictions_total",
			Help: "SSE subscribers disconnected for being too slow."}, func() float64 { return float64(g.Evictions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_debounce_batches_pending",
			Help: "Debounce batches waiting for their deadline."}, func() float64 { return float64(g.BatchesPending()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_outbox_pending",
			Help: "Postbacks and webhooks waiting to be delivered."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := g.OutboxDepth(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_ai_queue_depth",
			Help: "AI provider calls waiting in line for a slot."}, func() float64 { return float64(g.AIQueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_ai_inflight",
			Help: "AI provider calls running (at most PARLEY_AI_CONCURRENCY)."}, func() float64 { return float64(g.AIInFlight()) }),
	)
}
