package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// enqueueForTest queues one delivery per key, in order, in one transaction.
func enqueueForTest(t testing.TB, s *Store, tenant, url string, keys ...string) []string {
	t.Helper()
	var ids []string
	err := s.write(context.Background(), tenant, func(w *wtx) error {
		for _, k := range keys {
			id, err := w.enqueue(context.Background(), KindPostback, "", url, "postback", k, map[string]string{"key": k})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// checkHeads asserts the invariant the worker relies on: every key with
// pending rows has exactly one head, its oldest pending row.
func checkHeads(t *testing.T, s *Store) {
	t.Helper()
	order := map[engine]string{engineSQLite: "rowid", enginePostgres: "pos"}[s.eng] // queue order
	rows, err := s.r.Query(`SELECT destination || ' ' || order_key, id, head FROM deliveries WHERE status = 'pending' ORDER BY ` + order)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var key, id string
		var head bool
		if err := rows.Scan(&key, &id, &head); err != nil {
			t.Fatal(err)
		}
		if first := !seen[key]; head != first {
			t.Errorf("key %s: delivery %s has head %v, want %v (only the oldest pending row is the head)", key, id, head, first)
		}
		seen[key] = true
	}
}

func heads(t *testing.T, s *Store, dest string) []string {
	t.Helper()
	ds, err := s.DeliveryHeads(context.Background(), dest, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestDeliveryHeadsFollowEveryChange(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	const url = "https://hooks.example/cb"
	dest := ten.id + " " + Destination(url)
	a := enqueueForTest(t, s, ten.id, url, "c:a", "c:b", "c:a", "l:a", "c:a")
	checkHeads(t, s)
	if got, want := heads(t, s, dest), []string{a[0], a[1], a[3]}; !slices.Equal(got, want) {
		t.Fatalf("heads %v, want the first row of each key %v", got, want)
	}

	// A retry keeps the head; a final outcome hands it on.
	if err := s.RecordAttempt(ctx, ten.id, a[0], Attempt{StatusCode: 500, Err: "x", Status: DeliveryPending, Next: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, s)
	if got := heads(t, s, dest); got[len(got)-1] != a[0] {
		t.Errorf("heads %v: the retrying head %s should come last (due in an hour)", got, a[0])
	}
	if err := s.RecordAttempt(ctx, ten.id, a[0], Attempt{Status: DeliveryFailed, Next: time.Now()}); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, s)
	if got := heads(t, s, dest); !slices.Contains(got, a[2]) || slices.Contains(got, a[0]) {
		t.Errorf("heads %v after %s failed: want %s, the next row of its key", got, a[0], a[2])
	}

	// A manual retry of the failed row puts it back before the later ones.
	if _, err := ten.RetryDelivery(ctx, a[0]); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, s)
	if got := heads(t, s, dest); !slices.Contains(got, a[0]) || slices.Contains(got, a[2]) {
		t.Errorf("heads %v after retrying %s: want it to head its key again", got, a[0])
	}
	for _, id := range []string{a[0], a[2], a[4]} {
		if err := s.RecordAttempt(ctx, ten.id, id, Attempt{StatusCode: 200, Status: DeliveryDelivered, Next: time.Now()}); err != nil {
			t.Fatal(err)
		}
		checkHeads(t, s)
	}
	// A retry of a delivered row of a key with nothing pending heads it.
	if _, err := ten.RetryDelivery(ctx, a[2]); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, s)
	// A retry outcome does not bring back a row failed meanwhile.
	if _, err := s.w.Exec(s.rebindFor(`UPDATE deliveries SET status = 'failed', head = 0 WHERE id = ?`), a[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, ten.id, a[1], Attempt{StatusCode: 503, Status: DeliveryPending, Next: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if d, _ := ten.Delivery(ctx, a[1]); d.Status != DeliveryFailed {
		t.Errorf("a retry outcome turned a failed delivery %s", d.Status)
	}
	checkHeads(t, s)
}

func TestDeletedWebhookHandsItsHeadsOn(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	ten := tenantForTest(t, s)
	url1, url2 := "https://hooks.example/one", "https://hooks.example/two" // one destination
	var hooks []Webhook
	for _, u := range []string{url1, url2} {
		h, err := ten.CreateWebhook(ctx, WebhookInput{URL: &u, Events: []string{HookLeadCreated, HookLeadUpdated}})
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, h)
	}
	l, err := ten.CreateLead(ctx, LeadInput{Name: ptrTo("Ana")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ten.UpdateLead(ctx, l.ID, LeadInput{Name: ptrTo("Ana Maria")}); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, s) // one key (the lead) with four rows, the first of hook one
	if err := ten.DeleteWebhook(ctx, hooks[0].ID); err != nil {
		t.Fatal(err)
	}
	checkHeads(t, s)
	hs := heads(t, s, ten.id+" "+Destination(url1))
	if len(hs) != 1 {
		t.Fatalf("heads %v, want one: hook two's lead.created", hs)
	}
	if d, _ := ten.Delivery(ctx, hs[0]); d.WebhookID == nil || *d.WebhookID != hooks[1].ID || d.Event != HookLeadCreated {
		t.Errorf("head after the delete = %+v, want hook two's lead.created", d)
	}
}

func ptrTo[T any](v T) *T { return &v }

// openBenchStore is openForTest for a benchmark.
func openBenchStore(b *testing.B) *Store {
	b.Helper()
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"), string(schema), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// TestDeliveryQueriesUseTheirIndexes: the worker's queries read index
// entries, never the table: with 100k pending rows, a scan would cost
// milliseconds at every wake-up (BenchmarkDeliveryQueue measures them).
func TestDeliveryQueriesUseTheirIndexes(t *testing.T) {
	s := openSQLiteForTest(t)
	for _, c := range []struct{ query, index string }{
		{`SELECT (SELECT min(destination) FROM deliveries WHERE status = 'pending' AND head = 1 AND destination > ?)`, "deliveries_heads"},
		{`SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND head = 1 AND destination = ?`, "deliveries_heads"},
		{`SELECT id FROM deliveries WHERE destination = ? AND status = 'pending' AND head = 1 ORDER BY next_attempt_at, rowid LIMIT 5`, "deliveries_heads"},
		{`SELECT rowid FROM deliveries WHERE destination = ? AND order_key = ? AND status = 'pending' ORDER BY rowid LIMIT 1`, "deliveries_keys"},
		{`SELECT NOT EXISTS (SELECT 1 FROM deliveries WHERE destination = ? AND order_key = ? AND status = 'pending')`, "deliveries_keys"},
		{`SELECT min(created_at) FROM deliveries WHERE status = 'pending'`, "deliveries_pending"},
	} {
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+c.query, "a", "b")
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, c.index) || strings.Contains(text, "SCAN deliveries") || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s\nplan: %s\nwant a search of %s, no scan or sort", c.query, text, c.index)
		}
	}
}

// BenchmarkDeliveryQueue measures the worker's store calls with 100k pending
// deliveries spread over 10k keys, all at one destination (a tenant's
// gateway) or spread over 100 of them. outbox-depth counts the pending rows
// through their index, for scale: what reading the outbox would cost.
//
//	go test ./store/ -run '^$' -bench DeliveryQueue -benchtime 2s
func BenchmarkDeliveryQueue(b *testing.B) {
	for _, dests := range []int{1, 100} {
		b.Run(fmt.Sprintf("destinations=%d", dests), func(b *testing.B) { benchDeliveryQueue(b, dests) })
	}
}

func benchDeliveryQueue(b *testing.B, dests int) {
	ctx := context.Background()
	s := openBenchStore(b)
	info, _, err := s.CreateTenant(ctx, "bench", "")
	if err != nil {
		b.Fatal(err)
	}
	const rows, keys = 100_000, 10_000
	url := func(d int) string { return fmt.Sprintf("https://gateway%03d.example/cb", d) }
	for start := 0; start < rows; start += 10_000 {
		err := s.write(ctx, info.ID, func(w *wtx) error {
			for i := start; i < start+10_000; i++ {
				k := i % keys
				if _, err := w.enqueue(ctx, KindPostback, "", url(k%dests), "postback", fmt.Sprintf("c:%05d", k),
					PostbackPayload{ConversationID: fmt.Sprintf("%05d", k), Response: strings.Repeat("palavra ", 40)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	dest := info.ID + " " + Destination(url(0))
	b.Run("queues", func(b *testing.B) {
		for b.Loop() {
			if qs, err := s.DeliveryQueues(ctx); err != nil || len(qs) != dests {
				b.Fatal(len(qs), err)
			}
		}
	})
	b.Run("heads-33", func(b *testing.B) {
		for b.Loop() {
			if hs, err := s.DeliveryHeads(ctx, dest, 33); err != nil || len(hs) != 33 {
				b.Fatal(len(hs), err)
			}
		}
	})
	b.Run("deliver-and-promote", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++ // across the destinations, so that none runs dry
			hs, err := s.DeliveryHeads(ctx, info.ID+" "+Destination(url(i%dests)), 1)
			if err != nil || len(hs) != 1 {
				b.Fatal(len(hs), err)
			}
			if err := s.RecordAttempt(ctx, hs[0].TenantID, hs[0].ID, Attempt{StatusCode: 200, Status: DeliveryDelivered, Next: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("outbox-depth", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.OutboxDepth(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
