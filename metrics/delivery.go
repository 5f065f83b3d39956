package metrics

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// inFlightTop is how many destinations get a series of their own in
// parley_delivery_in_flight; the others add up in destination="other". A
// label per destination would grow with every tenant's every receiver.
const inFlightTop = 10

// deliveryQueueBuckets span a delivery sent at once (a few ms) to one that waited
// behind a predecessor's whole retry schedule (default about 36 minutes).
var deliveryQueueBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600}

// DestinationLabel is the destination label of parley_delivery_in_flight: 12
// hex digits of the SHA-256 of the worker's destination (tenant id, a space,
// scheme://host:port). /metrics needs no key, so it names no receiver; an
// operator who knows the destination computes the same digits:
//
//	printf '%s' '<tenant id> https://gateway.example:443' | sha256sum | cut -c1-12
func DestinationLabel(destination string) string {
	sum := sha256.Sum256([]byte(destination))
	return hex.EncodeToString(sum[:6])
}

// DeliveryWatch is what the delivery metrics read at scrape time.
type DeliveryWatch struct {
	InFlight      func() map[string]int                              // destination → requests in flight
	OldestPending func(ctx context.Context) (time.Time, bool, error) // when the oldest pending delivery was queued
	Now           func() time.Time                                   // time.Now when nil
}

// WatchDeliveries registers the outbox worker's scrape-time series: requests
// in flight per destination (the busiest ones) and the age of the oldest
// pending delivery.
func (m *Metrics) WatchDeliveries(w DeliveryWatch) {
	if w.Now == nil {
		w.Now = time.Now
	}
	m.reg.MustRegister(inFlightCollector{w.InFlight},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_outbox_oldest_pending_seconds",
			Help: "Age of the oldest pending postback or webhook (0 when none is pending)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			at, ok, err := w.OldestPending(ctx)
			switch {
			case err != nil:
				return -1
			case !ok:
				return 0
			}
			return max(w.Now().Sub(at).Seconds(), 0)
		}))
}

// DeliveryQueued records how long a delivery waited from being queued to its
// first attempt (the worker's OnQueued hook).
func (m *Metrics) DeliveryQueued(kind string, waited time.Duration) {
	m.deliveryQueue.WithLabelValues(kind).Observe(max(waited, 0).Seconds())
}

var inFlightDesc = prometheus.NewDesc("parley_delivery_in_flight",
	"Postback and webhook requests in flight per destination (tenant and scheme://host:port): the "+
		"10 busiest by a hash of the destination (see the README), the rest as other.",
	[]string{"destination"}, nil)

// inFlightCollector reports the worker's in-flight counts as they are at
// scrape time, so a destination that went quiet leaves no stale series.
type inFlightCollector struct{ counts func() map[string]int }

func (c inFlightCollector) Describe(ch chan<- *prometheus.Desc) { ch <- inFlightDesc }

func (c inFlightCollector) Collect(ch chan<- prometheus.Metric) {
	type dest struct {
		name string
		n    int
	}
	var ds []dest
	for name, n := range c.counts() {
		ds = append(ds, dest{name, n})
	}
	slices.SortFunc(ds, func(a, b dest) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.name, b.name)) })
	other := 0
	for i, d := range ds {
		if i >= inFlightTop {
			other += d.n
			continue
		}
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(d.n), DestinationLabel(d.name))
	}
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(other), "other")
}
