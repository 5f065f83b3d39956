package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreGauges reads the database's vital signs at scrape time.
type StoreGauges struct {
	// WAL returns the WAL's size in bytes, checkpoints by outcome
	// (complete, partial, busy), fsyncs after group commits, and the
	// longest the writer was held by one commit or checkpoint in the last
	// minute.
	WAL func() (bytes int64, checkpoints map[string]int64, syncs int64, longestPause time.Duration)
	// File returns the database file's size and its free pages.
	File func(ctx context.Context) (bytes, freelistPages int64, err error)
}

// pauseBuckets span a group commit (~1 ms) to a stall well past the 100 ms
// a checkpoint may take.
var pauseBuckets = []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1}

// CheckpointPause records how long one of the writer's truncating
// checkpoints held up writes.
func (m *Metrics) CheckpointPause(d time.Duration) { m.checkpointPause.Observe(d.Seconds()) }

// WALSync records how long one sync of the WAL took.
func (m *Metrics) WALSync(d time.Duration) { m.walSync.Observe(d.Seconds()) }

// BackupTaken counts a scheduled backup by outcome (ok, error).
func (m *Metrics) BackupTaken(outcome string) { m.backups.WithLabelValues(outcome).Inc() }

// WatchStore registers the database's scrape-time gauges.
func (m *Metrics) WatchStore(g StoreGauges) {
	m.reg.MustRegister(storeCollector{g: g,
		walBytes: prometheus.NewDesc("parley_sqlite_wal_bytes", "Size of the SQLite write-ahead log file.", nil, nil),
		checkpoints: prometheus.NewDesc("parley_sqlite_checkpoints_total",
			"WAL checkpoints by outcome: complete (all copied), partial (readers held some back), busy (could not run).",
			[]string{"outcome"}, nil),
		syncs: prometheus.NewDesc("parley_sqlite_wal_syncs_total",
			"fsyncs of the WAL after group commits (0 with PARLEY_DB_SYNC=normal).", nil, nil),
		pause: prometheus.NewDesc("parley_sqlite_write_pause_max_seconds",
			"Longest time in the last minute that the single writer was held by one group commit or checkpoint.", nil, nil),
		dbBytes: prometheus.NewDesc("parley_sqlite_db_bytes", "Size of the SQLite database file (pages in use and free).", nil, nil),
		freelist: prometheus.NewDesc("parley_sqlite_freelist_pages",
			"Database pages freed by deletes and not yet reused or returned to the file system.", nil, nil),
	})
}

// storeCollector reads the store once per scrape for all its series.
type storeCollector struct {
	g                                                      StoreGauges
	walBytes, checkpoints, syncs, pause, dbBytes, freelist *prometheus.Desc
}

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.walBytes, c.checkpoints, c.syncs, c.pause, c.dbBytes, c.freelist} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	wal, checkpoints, syncs, pause := c.g.WAL()
	ch <- prometheus.MustNewConstMetric(c.walBytes, prometheus.GaugeValue, float64(wal))
	for _, outcome := range []string{"complete", "partial", "busy"} {
		ch <- prometheus.MustNewConstMetric(c.checkpoints, prometheus.CounterValue, float64(checkpoints[outcome]), outcome)
	}
	ch <- prometheus.MustNewConstMetric(c.syncs, prometheus.CounterValue, float64(syncs))
	ch <- prometheus.MustNewConstMetric(c.pause, prometheus.GaugeValue, pause.Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if size, free, err := c.g.File(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.dbBytes, prometheus.GaugeValue, float64(size))
		ch <- prometheus.MustNewConstMetric(c.freelist, prometheus.GaugeValue, float64(free))
	}
}
