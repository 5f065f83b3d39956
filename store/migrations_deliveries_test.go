package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestMigrationKeysPendingDeliveries: a version 7 outbox (ordered per
// destination) gets its order keys from the payloads, and the oldest
// pending delivery of each key becomes its head.
func TestMigrationKeysPendingDeliveries(t *testing.T) {
	snap, ok := snapshots(t)[7]
	if !ok {
		t.Fatal("testdata/schema_v7.sql is missing")
	}
	const dest = "t1 https://gw.example:443"
	row := func(id, kind, event, payload, status string) string {
		return `INSERT INTO deliveries (id, tenant_id, kind, url, destination, event, payload, status, next_attempt_at, created_at)
VALUES ('` + id + `', 't1', '` + kind + `', 'https://gw.example/cb', '` + dest + `', '` + event + `', '` + payload + `', '` +
			status + `', 1700000000000, 1700000000000)`
	}
	path := filepath.Join(t.TempDir(), "v7.db")
	buildAt(t, path, snap, 7,
		`INSERT INTO tenants (id, name, postback_secret, last_event_seq, created_at) VALUES ('t1', 'old', 'whsec_old', 0, 1700000000000)`,
		row("d1", "postback", "postback", `{"conversation_id":"c1","response":"a"}`, "delivered"),
		row("d2", "postback", "postback", `{"conversation_id":"c1","response":"b"}`, "pending"),
		row("d3", "webhook", "lead.created", `{"event":"lead.created","data":{"id":"L1"}}`, "pending"),
		row("d4", "webhook", "message.received", `{"event":"message.received","data":{"id":"m1","conversation_id":"c1"}}`, "pending"),
		row("d5", "webhook", "conversation.updated", `{"event":"conversation.updated","data":{"id":"c2"}}`, "pending"),
		row("d6", "webhook", "lead.updated", `{"event":"lead.updated","data":{"id":"L1"}}`, "pending"),
		row("d7", "postback", "postback", `not json`, "pending"),
	)
	st := storetest.Open(t, path)
	got := map[string]string{}
	rows, err := rawDB(t, path).Query(`SELECT id, order_key || ' ' || head FROM deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, v string
		rows.Scan(&id, &v)
		got[id] = v
	}
	rows.Close()
	want := map[string]string{"d1": " 0", "d2": "c:c1 1", "d3": "l:L1 1", "d4": "c:c1 0", "d5": "c:c2 1", "d6": "l:L1 0", "d7": " 1"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("delivery %s: order key and head %q, want %q", id, got[id], w)
		}
	}
	heads, err := st.DeliveryHeads(context.Background(), dest, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range heads {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, []string{"d2", "d3", "d5", "d7"}) {
		t.Errorf("heads after migration %v, want d2 d3 d5 d7", ids)
	}
	// A delivered row retried after the migration gets its key then, and
	// goes before the later pending rows of its conversation.
	if _, err := st.Tenant("t1").RetryDelivery(context.Background(), "d1"); err != nil {
		t.Fatal(err)
	}
	heads, _ = st.DeliveryHeads(context.Background(), dest, 10)
	ids = ids[:0]
	for _, d := range heads {
		ids = append(ids, d.ID+" "+d.OrderKey)
	}
	if !slices.Equal(ids, []string{"d3 l:L1", "d5 c:c2", "d7 ", "d1 c:c1"}) {
		t.Errorf("heads after retrying d1: %v, want d1 (key c:c1) in place of d2, due last", ids)
	}
}
