package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Delivery kinds and statuses (API.md §3.6).
const (
	KindPostback = "postback"
	KindWebhook  = "webhook"

	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one outbound POST in the outbox.
type Delivery struct {
	ID             string  `json:"id"`
	TenantID       string  `json:"-"`
	Kind           string  `json:"kind"`
	WebhookID      *string `json:"webhook_id,omitempty"`
	URL            string  `json:"url"`
	Destination    string  `json:"-"` // tenant id, a space, Destination(URL)
	OrderKey       string  `json:"-"` // what order is kept for within Destination (see conversationKey)
	Event          string  `json:"event"`
	Payload        []byte  `json:"-"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	NextAttemptAt  *Time   `json:"next_attempt_at"`
	CreatedAt      Time    `json:"created_at"`
}

// Destination is what a URL's deliveries share a concurrency limit in:
// scheme, host and port (API.md §3.6). It is kept per tenant on top of that
// (see enqueue), so that one tenant's busy or failing receiver on a shared
// host never holds another's.
func Destination(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + u.Hostname() + ":" + port
}

const deliveryColumns = `id, tenant_id, kind, webhook_id, url, destination, event, payload, status, attempts,
last_status_code, last_error, next_attempt_at, created_at, order_key`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var webhook, lastErr sql.NullString
	var code sql.NullInt64
	var next int64
	var payload string
	err := row.Scan(&d.ID, &d.TenantID, &d.Kind, &webhook, &d.URL, &d.Destination, &d.Event, &payload, &d.Status,
		&d.Attempts, &code, &lastErr, &next, &d.CreatedAt, &d.OrderKey)
	d.WebhookID, d.LastError, d.Payload = strPtr(webhook), strPtr(lastErr), []byte(payload)
	if code.Valid {
		c := int(code.Int64)
		d.LastStatusCode = &c
	}
	if d.Status == DeliveryPending {
		t := Time(next)
		d.NextAttemptAt = &t
	}
	return d, err
}

// enqueue adds an outbox row to the transaction; the worker is woken after
// commit. key is its order key within the destination (conversationKey or
// leadKey); the row is its key's head when no earlier row of the key is
// pending.
func (w *wtx) enqueue(ctx context.Context, kind, webhookID, target, event, key string, payload any) (string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("store: encode %s payload: %w", event, err)
	}
	id := NewID()
	dest := w.tenant + " " + Destination(target)
	if err := w.lockKey(ctx, w.tenant, key); err != nil { // head and order below (pglocks.go)
		return "", err
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, kind, webhook_id, url, destination, event, payload,
next_attempt_at, created_at, order_key, head) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
NOT EXISTS (SELECT 1 FROM deliveries WHERE destination = ? AND order_key = ? AND status = 'pending'))`,
		id, w.tenant, kind, nullStr(&webhookID), target, dest, event, string(body), w.now, w.now, key, dest, key); err != nil {
		return "", mapErr("enqueue delivery", err)
	}
	w.outbox = true
	return id, nil
}

// OnOutbox sets the function called after a commit that added deliveries (it
// wakes the delivery worker). It must not block.
func (s *Store) OnOutbox(fn func()) { s.outboxHook = fn }

// DeliverySecret is the key a delivery is signed with: its webhook's secret,
// or the tenant's postback secret. Read at send time, so a regenerated secret
// signs every later attempt.
func (s *Store) DeliverySecret(ctx context.Context, d Delivery) (string, error) {
	var secret string
	var err error
	if d.WebhookID != nil {
		err = s.queryRow(ctx, `SELECT secret FROM webhooks WHERE tenant_id = ? AND id = ?`, d.TenantID, *d.WebhookID).Scan(&secret)
	} else {
		err = s.queryRow(ctx, `SELECT postback_secret FROM tenants WHERE id = ?`, d.TenantID).Scan(&secret)
	}
	return secret, mapErr("delivery secret", err)
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	StatusCode int       // 0 when no response arrived
	Err        string    // what went wrong, "" on success
	Status     string    // the delivery's status after it: pending (retry), delivered or failed
	Next       time.Time // the next attempt, when Status is pending
}

// RecordAttempt stores an attempt's outcome. A final outcome (delivered or
// failed) hands the key's head to the next pending row of the key. A retry
// is recorded only while the row is still pending: a row failed meanwhile
// (its webhook was deleted) stays failed.
func (s *Store) RecordAttempt(ctx context.Context, tenant, id string, a Attempt) error {
	return s.write(ctx, tenant, func(w *wtx) error {
		var delivered any
		if a.Status == DeliveryDelivered {
			delivered = w.now
		}
		var code any
		if a.StatusCode != 0 {
			code = a.StatusCode
		}
		var dest, key string
		err := w.QueryRowContext(ctx, `UPDATE deliveries SET status = ?1, attempts = attempts + 1, last_status_code = ?2,
last_error = ?3, next_attempt_at = ?4, delivered_at = ?5, head = (head AND ?1 = 'pending')
WHERE tenant_id = ?7 AND id = ?6 AND (status = 'pending' OR ?1 != 'pending') RETURNING destination, order_key`,
			a.Status, code, nullStr(&a.Err), a.Next.UnixMilli(), delivered, id, tenant).Scan(&dest, &key)
		switch {
		case err == sql.ErrNoRows:
			return nil
		case err != nil:
			return mapErr("record attempt", err)
		case a.Status == DeliveryPending:
			return nil
		}
		return w.promote(ctx, dest, key)
	})
}

// ListDeliveries lists the tenant's deliveries, newest first, optionally by status.
func (t *Tenant) ListDeliveries(ctx context.Context, status string, p Page) ([]Delivery, int, error) {
	where, args := `tenant_id = ?`, []any{t.id}
	if status != "" {
		where += ` AND status = ?`
		args = append(args, status)
	}
	var total int
	if err := t.s.queryRow(ctx, `SELECT count(*) FROM deliveries WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, mapErr("count deliveries", err)
	}
	rows, err := t.s.query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+where+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, mapErr("list deliveries", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, 0, mapErr("scan delivery", err)
		}
		out = append(out, d)
	}
	return out, total, mapErr("list deliveries", rows.Err())
}

// Delivery returns one of the tenant's deliveries.
func (t *Tenant) Delivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(t.s.queryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE tenant_id = ? AND id = ?`, t.id, id))
	return d, mapErr("get delivery "+id, err)
}

// RetryDelivery queues a delivery again, now, with a fresh retry schedule; it
// keeps its id, so receivers still dedupe on X-Parley-Delivery. It keeps its
// place in its key's order too: when later deliveries of the key are still
// pending, it goes before them (see requeue).
func (t *Tenant) RetryDelivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		if err := w.requeue(ctx, id); err != nil {
			return err
		}
		w.outbox = true
		var err error
		d, err = scanDelivery(w.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE tenant_id = ? AND id = ?`, t.id, id))
		return mapErr("get delivery", err)
	})
	return d, err
}

// OutboxDepth counts pending deliveries (metrics).
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM deliveries WHERE status = 'pending'`).Scan(&n)
	return n, mapErr("outbox depth", err)
}

// OldestPendingDelivery returns when the oldest pending delivery was queued
// (metrics); false when none is pending.
func (s *Store) OldestPendingDelivery(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.queryRow(ctx, `SELECT min(created_at) FROM deliveries WHERE status = 'pending'`).Scan(&at); err != nil {
		return time.Time{}, false, mapErr("oldest pending delivery", err)
	}
	return time.UnixMilli(at.Int64), at.Valid, nil
}
