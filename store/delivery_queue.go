package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// The outbox keeps order per key within a destination (API.md §3.6): the
// deliveries about one conversation (its postbacks, and webhooks about it or
// its messages) reach a receiver in commit order, and lead.* webhooks in
// commit order per lead. The two kinds of key are not ordered against each
// other. Keys of one destination are sent in parallel by the worker.
//
// Order within a key is rowid order: the table has no INTEGER PRIMARY KEY,
// so a new row's rowid is one more than the largest, and with one writer
// that is commit order (a VACUUM may renumber rowids, but in the same order).
// On PostgreSQL it is pos order, commit order per key under the key's lock
// (deliveryQueries, pglocks.go).
//
// head = 1 marks the oldest pending row of each key, kept so by every
// statement that changes which row that is: enqueue (a key's first pending
// row), promote (after the head leaves pending), requeue (a manual retry of
// an older row) and failWebhook. The partial index deliveries_heads thus
// holds one entry per key with pending rows, so finding the due keys of a
// destination reads those entries and none of the rows queued behind them.

// conversationKey and leadKey are the order keys of deliveries about a
// conversation and of lead.* webhooks.
func conversationKey(id string) string { return "c:" + id }
func leadKey(id string) string         { return "l:" + id }

// orderKeyOfPayload is the order key of a delivery written before version
// 8, read from its payload: the subject that the callers of enqueue name
// (the postback's conversation, the lead of lead.*, the conversation of
// conversation.updated, the message's conversation otherwise).
const orderKeyOfPayload = `coalesce(CASE
WHEN NOT json_valid(payload) THEN NULL
WHEN kind = 'postback' THEN 'c:' || json_extract(payload, '$.conversation_id')
WHEN substr(event, 1, 5) = 'lead.' THEN 'l:' || json_extract(payload, '$.data.id')
WHEN event = 'conversation.updated' THEN 'c:' || json_extract(payload, '$.data.id')
ELSE 'c:' || json_extract(payload, '$.data.conversation_id') END, '')`

// DeliveryQueue is a destination whose keys have pending deliveries, with
// the earliest next attempt among their heads.
type DeliveryQueue struct {
	Destination string
	Due         time.Time
}

// DeliveryQueues lists the destinations with pending deliveries, each with
// its earliest due head. It reads two index entries per destination (a skip
// scan of deliveries_heads written out as a recursive query, since SQLite
// only skips on its own with ANALYZE statistics), whatever the number of
// keys or rows.
func (s *Store) DeliveryQueues(ctx context.Context) ([]DeliveryQueue, error) {
	rows, err := s.query(ctx, `WITH RECURSIVE q(destination) AS (
  SELECT (SELECT min(destination) FROM deliveries WHERE status = 'pending' AND head = 1)
  UNION ALL
  SELECT (SELECT min(destination) FROM deliveries WHERE status = 'pending' AND head = 1 AND destination > q.destination)
  FROM q WHERE q.destination IS NOT NULL)
SELECT destination, (SELECT min(next_attempt_at) FROM deliveries
  WHERE status = 'pending' AND head = 1 AND destination = q.destination)
FROM q WHERE destination IS NOT NULL`)
	if err != nil {
		return nil, mapErr("list delivery queues", err)
	}
	defer rows.Close()
	var out []DeliveryQueue
	for rows.Next() {
		var q DeliveryQueue
		var due int64
		if err := rows.Scan(&q.Destination, &due); err != nil {
			return nil, mapErr("scan delivery queue", err)
		}
		q.Due = time.UnixMilli(due)
		out = append(out, q)
	}
	return out, mapErr("list delivery queues", rows.Err())
}

// DeliveryHeads returns up to limit heads of destination's keys, earliest
// next attempt first (ties in commit order); the later ones may not be due
// yet. A key whose head was promoted when its predecessor finished is due
// from that moment, so keys take turns: a conversation with many queued
// deliveries goes behind the keys that were already waiting.
func (s *Store) DeliveryHeads(ctx context.Context, destination string, limit int) ([]Delivery, error) {
	rows, err := s.query(ctx, deliverySQL[s.eng].heads, destination, limit)
	if err != nil {
		return nil, mapErr("delivery heads", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, mapErr("scan delivery", err)
		}
		out = append(out, d)
	}
	return out, mapErr("delivery heads", rows.Err())
}

// deliveryQueries are the outbox statements whose text differs between the
// engines: a key's rows are ordered by rowid on SQLite and by pos on
// PostgreSQL (which has no rowid; pos is an identity column, in commit
// order within a key because the key's writers hold its lock, pglocks.go),
// SQLite's two-argument max is PostgreSQL's GREATEST, head is an integer on
// SQLite and a boolean on PostgreSQL, and an order key older than version 8
// is read from the payload with each engine's JSON functions.
type deliveryQueries struct {
	heads        string // a destination's heads, due first
	promote      string // the key's oldest pending row becomes its head
	requeueRow   string // the row's position, status, destination and key
	requeueFirst string // the key's oldest pending row: position and head
	unhead       string // a row stops being its key's head
	requeue      string // the row is pending again, due now
}

var deliverySQL = [...]deliveryQueries{
	engineSQLite: {
		heads: `SELECT ` + deliveryColumns + ` FROM deliveries
WHERE destination = ? AND status = 'pending' AND head = 1 ORDER BY next_attempt_at, rowid LIMIT ?`,
		promote: `UPDATE deliveries SET head = 1, next_attempt_at = max(next_attempt_at, ?)
WHERE rowid = (SELECT rowid FROM deliveries WHERE destination = ? AND order_key = ? AND status = 'pending'
  ORDER BY rowid LIMIT 1) AND head = 0`,
		requeueRow: `SELECT rowid, status, destination, CASE order_key WHEN '' THEN ` + orderKeyOfPayload +
			` ELSE order_key END FROM deliveries WHERE tenant_id = ? AND id = ?`,
		requeueFirst: `SELECT rowid, head FROM deliveries WHERE destination = ? AND order_key = ?
AND status = 'pending' ORDER BY rowid LIMIT 1`,
		unhead: `UPDATE deliveries SET head = 0 WHERE rowid = ?`,
		requeue: `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?1,
delivered_at = NULL, order_key = ?2, head = CASE ?3 WHEN -1 THEN head ELSE ?3 END WHERE rowid = ?4`,
	},
	enginePostgres: {
		heads: `SELECT ` + deliveryColumns + ` FROM deliveries
WHERE destination = $1 AND status = 'pending' AND head ORDER BY next_attempt_at, pos LIMIT $2`,
		promote: `UPDATE deliveries SET head = TRUE, next_attempt_at = GREATEST(next_attempt_at, $1)
WHERE pos = (SELECT pos FROM deliveries WHERE destination = $2 AND order_key = $3 AND status = 'pending'
  ORDER BY pos LIMIT 1) AND NOT head`,
		requeueRow: `SELECT pos, status, destination, CASE order_key WHEN '' THEN ` + orderKeyOfPayloadPG +
			` ELSE order_key END FROM deliveries WHERE tenant_id = $1 AND id = $2`,
		requeueFirst: `SELECT pos, head FROM deliveries WHERE destination = $1 AND order_key = $2
AND status = 'pending' ORDER BY pos LIMIT 1`,
		unhead: `UPDATE deliveries SET head = FALSE WHERE pos = $1`,
		requeue: `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
delivered_at = NULL, order_key = $2, head = CASE $3::int WHEN -1 THEN head ELSE $3::int = 1 END WHERE pos = $4`,
	},
}

// orderKeyOfPayloadPG is orderKeyOfPayload on PostgreSQL. Payloads are
// json.Marshal's output, so the cast to jsonb cannot fail there (PostgreSQL
// 15 has no json_valid to guard it as SQLite's text does).
const orderKeyOfPayloadPG = `coalesce(CASE
WHEN kind = 'postback' THEN 'c:' || (payload::jsonb ->> 'conversation_id')
WHEN substr(event, 1, 5) = 'lead.' THEN 'l:' || (payload::jsonb -> 'data' ->> 'id')
WHEN event = 'conversation.updated' THEN 'c:' || (payload::jsonb -> 'data' ->> 'id')
ELSE 'c:' || (payload::jsonb -> 'data' ->> 'conversation_id') END, '')`

// lockKey serialises the writers of one order key on PostgreSQL (see
// pglocks.go): every statement that decides which row is the key's head
// runs after it. One lock per tenant and key covers all destinations: a
// write touches a key's rows on several destinations at once (a message's
// postback and webhooks), and one lock is one round trip.
func (w *wtx) lockKey(ctx context.Context, tenant, key string) error {
	return w.pgLock(ctx, lockOutbox, tenant, key)
}

// destTenant is the tenant of a destination (tenant id, a space, the URL's
// scheme, host and port: see enqueue).
func destTenant(dest string) string {
	tenant, _, _ := strings.Cut(dest, " ")
	return tenant
}

// promote makes the oldest pending row of a key its head, due no earlier
// than now, unless it already is.
func (w *wtx) promote(ctx context.Context, dest, key string) error {
	if err := w.lockKey(ctx, destTenant(dest), key); err != nil {
		return err
	}
	_, err := w.ExecContext(ctx, w.deliverySQL().promote, w.now, dest, key)
	return mapErr("promote delivery", err)
}

func (w *wtx) deliverySQL() *deliveryQueries {
	if w.pg {
		return &deliverySQL[enginePostgres]
	}
	return &deliverySQL[engineSQLite]
}

// requeue makes a delivery of the tenant pending again, due now, with a
// fresh schedule. A delivered or failed one takes its commit-order place in
// its key: it becomes the head if no earlier row of the key is pending (the
// head it displaces waits behind it), else it waits behind that row.
func (w *wtx) requeue(ctx context.Context, id string) error {
	q := w.deliverySQL()
	var pos int64
	var status, dest, key string
	read := func() error {
		err := w.QueryRowContext(ctx, q.requeueRow, w.tenant, id).Scan(&pos, &status, &dest, &key)
		if err == sql.ErrNoRows {
			return fmt.Errorf("store: retry delivery %s: %w", id, ErrNotFound)
		}
		return mapErr("retry delivery", err)
	}
	if err := read(); err != nil {
		return err
	}
	if err := w.lockKey(ctx, w.tenant, key); err != nil {
		return err
	}
	if w.pg { // an attempt may have finished the row before the lock was granted
		if err := read(); err != nil {
			return err
		}
	}
	head := -1 // a pending row keeps its place
	if status != DeliveryPending {
		var first int64
		var firstHead bool
		err := w.QueryRowContext(ctx, q.requeueFirst, dest, key).Scan(&first, &firstHead)
		switch {
		case err == sql.ErrNoRows:
			head = 1
		case err != nil:
			return mapErr("retry delivery", err)
		case first > pos:
			head = 1
			if firstHead {
				if _, err := w.ExecContext(ctx, q.unhead, first); err != nil {
					return mapErr("retry delivery", err)
				}
			}
		default:
			head = 0
		}
	}
	_, err := w.ExecContext(ctx, q.requeue, w.now, key, head, pos)
	return mapErr("retry delivery", err)
}

// failWebhook fails the pending deliveries of a deleted webhook and hands
// the heads among them to the next pending row of their keys (another
// webhook of the tenant on the same destination shares their keys).
func (w *wtx) failWebhook(ctx context.Context, webhookID string) error {
	rows, err := w.QueryContext(ctx, `SELECT DISTINCT destination, order_key FROM deliveries
WHERE tenant_id = ? AND webhook_id = ? AND status = 'pending' AND head = 1`, w.tenant, webhookID)
	if err != nil {
		return mapErr("fail deliveries of deleted webhook", err)
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return mapErr("fail deliveries of deleted webhook", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return mapErr("fail deliveries of deleted webhook", err)
	}
	if _, err := w.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', last_error = 'webhook deleted', head = 0
WHERE tenant_id = ? AND webhook_id = ? AND status = 'pending'`, w.tenant, webhookID); err != nil {
		return mapErr("fail deliveries of deleted webhook", err)
	}
	for _, k := range keys {
		if err := w.promote(ctx, k[0], k[1]); err != nil {
			return err
		}
		w.outbox = true // the new heads may be due: wake the worker
	}
	return nil
}
