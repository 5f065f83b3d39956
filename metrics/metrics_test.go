package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

type failing struct{ ai.Provider }

func (failing) Complete(context.Context, ai.Request) (string, error) { return "", errors.New("down") }

func TestInstrumentsAreExposed(t *testing.T) {
	m := metrics.New()
	m.ObserveRequest("/backend/leads/:id", "GET", 404, 3*time.Millisecond)
	m.ObserveRequest("", "GET", 404, time.Millisecond)
	m.EventsPublished(3)
	m.DebounceFired("k", 2*time.Millisecond)
	m.DeliveryAttempt("webhook", "retry", 40*time.Millisecond)
	m.WriteWait(time.Millisecond)
	m.CheckpointPause(4 * time.Millisecond)
	m.WALSync(time.Millisecond)
	m.BackupTaken("ok")
	m.BackupTaken("error")
	m.WatchStore(metrics.StoreGauges{
		WAL: func() (int64, map[string]int64, int64, time.Duration) {
			return 4096, map[string]int64{"complete": 9, "partial": 2}, 17, 30 * time.Millisecond
		},
		File: func(context.Context) (int64, int64, error) { return 1 << 20, 12, nil },
	})
	b, _ := ai.NewBuiltin(ai.BuiltinConfig{})
	p := metrics.Provider{Provider: b, M: m}
	if _, err := p.Complete(context.Background(), ai.Request{UserText: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := (metrics.Provider{Provider: failing{b}, M: m}).Complete(context.Background(), ai.Request{}); err == nil {
		t.Fatal("the wrapper swallowed the provider's error")
	}
	m.Watch(metrics.Gauges{Subscribers: func() int { return 7 }, Evictions: func() int64 { return 2 },
		BatchesPending: func() int { return 5 }, OutboxDepth: func(context.Context) (int, error) { return 11, nil },
		AIQueueDepth: func() int { return 9 }, AIInFlight: func() int { return 4 }})
	m.AIQueueWait(3 * time.Second)

	out := scrape(t, m)
	for _, want := range []string{
		`parley_http_requests_total{code="404",method="GET",route="/backend/leads/:id"} 1`,
		`parley_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`parley_http_request_duration_seconds_count{method="GET",route="/backend/leads/:id"} 1`,
		`parley_events_published_total 3`,
		`parley_debounce_fire_lateness_seconds_count 1`,
		`parley_deliveries_total{kind="webhook",outcome="retry"} 1`,
		`parley_delivery_attempt_duration_seconds_count{kind="webhook"} 1`,
		`parley_ai_provider_calls_total{op="complete",outcome="ok"} 1`,
		`parley_ai_provider_calls_total{op="complete",outcome="error"} 1`,
		`parley_ai_provider_duration_seconds_count{op="complete"} 2`,
		`parley_store_write_wait_seconds_count 1`,
		`parley_sse_subscribers 7`,
		`parley_sse_evictions_total 2`,
		`parley_debounce_batches_pending 5`,
		`parley_outbox_pending 11`,
		`parley_sqlite_wal_bytes 4096`,
		`parley_sqlite_checkpoints_total{outcome="complete"} 9`,
		`parley_sqlite_checkpoints_total{outcome="partial"} 2`,
		`parley_sqlite_checkpoints_total{outcome="busy"} 0`,
		`parley_sqlite_wal_syncs_total 17`,
		`parley_sqlite_write_pause_max_seconds 0.03`,
		`parley_sqlite_db_bytes 1.048576e+06`,
		`parley_sqlite_freelist_pages 12`,
		`parley_sqlite_checkpoint_pause_seconds_count 1`,
		`parley_sqlite_wal_sync_seconds_count 1`,
		`parley_backups_total{outcome="ok"} 1`,
		`parley_backups_total{outcome="error"} 1`,
		`parley_ai_queue_depth 9`,
		`parley_ai_inflight 4`,
		`parley_ai_queue_wait_seconds_count 1`,
		`parley_ai_queue_wait_seconds_bucket{le="5"} 1`,
		`parley_go_goroutines`,
		`parley_process_resident_memory_bytes`,
	} {
		if !strings.Contains(out, want+"\n") && !strings.Contains(out, want+" ") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			name := strings.Fields(line)[2]
			if !strings.HasPrefix(name, "parley_") {
				t.Errorf("series %s is not prefixed parley_", name)
			}
		}
	}
}

func TestDeliveryInstruments(t *testing.T) {
	m := metrics.New()
	m.DeliveryQueued("postback", 1500*time.Millisecond)
	counts := map[string]int{}
	for i := range 12 {
		counts[fmt.Sprintf("tenant https://gw%d.example:443", i)] = i + 1 // gw0 and gw1 are the least busy
	}
	now := time.Now()
	m.WatchDeliveries(metrics.DeliveryWatch{InFlight: func() map[string]int { return counts },
		OldestPending: func(context.Context) (time.Time, bool, error) { return now.Add(-90 * time.Second), true, nil },
		Now:           func() time.Time { return now }})
	out := scrape(t, m)
	for _, want := range []string{
		`parley_delivery_queue_seconds_count{kind="postback"} 1`,
		`parley_outbox_oldest_pending_seconds 90`,
		`parley_delivery_in_flight{destination="other"} 3`,
		`parley_delivery_in_flight{destination="` + metrics.DestinationLabel("tenant https://gw11.example:443") + `"} 12`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if n := strings.Count(out, "parley_delivery_in_flight{"); n != 11 {
		t.Errorf("%d in-flight series, want the 10 busiest destinations and other", n)
	}
	if strings.Contains(out, "gw11.example") {
		t.Error("a destination's host is in the scrape")
	}
}
