package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Webhook events (API.md §3.6).
const (
	HookLeadCreated         = "lead.created"
	HookLeadUpdated         = "lead.updated"
	HookLeadDeleted         = "lead.deleted"
	HookMessageReceived     = "message.received"
	HookMessageSent         = "message.sent"
	HookAIResponse          = "ai.response"
	HookConversationUpdated = "conversation.updated"
)

// WebhookEvents lists every event a webhook may subscribe to.
var WebhookEvents = []string{HookLeadCreated, HookLeadUpdated, HookLeadDeleted, HookMessageReceived, HookMessageSent,
	HookAIResponse, HookConversationUpdated}

// Webhook is a subscription of a URL to events. Secret is shown only when
// the webhook is created or its secret regenerated.
type Webhook struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Active    bool     `json:"active"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt Time     `json:"created_at"`
	UpdatedAt Time     `json:"updated_at"`
}

// WebhookInput creates or partially updates a webhook.
type WebhookInput struct {
	URL    *string
	Events []string
	Active *bool
}

const webhookColumns = `id, url, events, active, secret, created_at, updated_at`

func scanWebhook(row interface{ Scan(...any) error }) (Webhook, error) {
	var h Webhook
	var events string
	err := row.Scan(&h.ID, &h.URL, &events, &h.Active, &h.Secret, &h.CreatedAt, &h.UpdatedAt)
	_ = json.Unmarshal([]byte(events), &h.Events)
	if h.Events == nil {
		h.Events = []string{}
	}
	return h, err
}

func encodeEvents(events []string) string {
	b, _ := json.Marshal(events)
	return string(b)
}

// CreateWebhook adds a webhook with a fresh secret (returned this once).
func (t *Tenant) CreateWebhook(ctx context.Context, in WebhookInput) (Webhook, error) {
	var h Webhook
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		w.forgetWebhooks()
		active := in.Active == nil || *in.Active
		var err error
		h, err = scanWebhook(w.QueryRowContext(ctx, `INSERT INTO webhooks (id, tenant_id, url, events, active, secret,
created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+webhookColumns,
			NewID(), t.id, deref(in.URL), encodeEvents(in.Events), active, randomToken("whsec_"), w.now, w.now))
		return mapErr("insert webhook", err)
	})
	return h, err
}

// Webhook returns one webhook, without its secret.
func (t *Tenant) Webhook(ctx context.Context, id string) (Webhook, error) {
	h, err := scanWebhook(t.s.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE tenant_id = ? AND id = ?`, t.id, id))
	h.Secret = ""
	return h, mapErr("get webhook "+id, err)
}

// ListWebhooks lists webhooks oldest first, without secrets.
func (t *Tenant) ListWebhooks(ctx context.Context, p Page) ([]Webhook, int, error) {
	var total int
	if err := t.s.queryRow(ctx, `SELECT count(*) FROM webhooks WHERE tenant_id = ?`, t.id).Scan(&total); err != nil {
		return nil, 0, mapErr("count webhooks", err)
	}
	rows, err := t.s.query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE tenant_id = ? ORDER BY created_at, id
LIMIT ? OFFSET ?`, t.id, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, mapErr("list webhooks", err)
	}
	defer rows.Close()
	out := []Webhook{}
	for rows.Next() {
		h, err := scanWebhook(rows)
		if err != nil {
			return nil, 0, mapErr("scan webhook", err)
		}
		h.Secret = ""
		out = append(out, h)
	}
	return out, total, mapErr("list webhooks", rows.Err())
}

// UpdateWebhook applies a partial update.
func (t *Tenant) UpdateWebhook(ctx context.Context, id string, in WebhookInput) (Webhook, error) {
	var h Webhook
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		w.forgetWebhooks()
		cur, err := scanWebhook(w.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE tenant_id = ? AND id = ?`, t.id, id))
		if err != nil {
			return mapErr("get webhook "+id, err)
		}
		if in.URL != nil {
			cur.URL = *in.URL
		}
		if in.Events != nil {
			cur.Events = in.Events
		}
		if in.Active != nil {
			cur.Active = *in.Active
		}
		h, err = scanWebhook(w.QueryRowContext(ctx, `UPDATE webhooks SET url = ?, events = ?, active = ?, updated_at = ?
WHERE tenant_id = ? AND id = ? RETURNING `+webhookColumns, cur.URL, encodeEvents(cur.Events), cur.Active, w.now, t.id, id))
		h.Secret = ""
		return mapErr("update webhook "+id, err)
	})
	return h, err
}

// RegenerateWebhookSecret gives a webhook a new secret (returned this once).
func (t *Tenant) RegenerateWebhookSecret(ctx context.Context, id string) (Webhook, error) {
	var h Webhook
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		var err error
		h, err = scanWebhook(w.QueryRowContext(ctx, `UPDATE webhooks SET secret = ?, updated_at = ? WHERE tenant_id = ? AND id = ?
RETURNING `+webhookColumns, randomToken("whsec_"), w.now, t.id, id))
		return mapErr("regenerate webhook secret "+id, err)
	})
	return h, err
}

// DeleteWebhook removes a webhook. Its pending deliveries fail at once (with
// the secret gone they could only go out unsigned) and stay listed.
func (t *Tenant) DeleteWebhook(ctx context.Context, id string) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		w.forgetWebhooks()
		res, err := w.ExecContext(ctx, `DELETE FROM webhooks WHERE tenant_id = ? AND id = ?`, t.id, id)
		if err != nil {
			return mapErr("delete webhook "+id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: delete webhook %s: %w", id, ErrNotFound)
		}
		return w.failWebhook(ctx, id)
	})
}

// hookPayload is the body of every webhook POST.
type hookPayload struct {
	Event     string `json:"event"`
	Timestamp Time   `json:"timestamp"`
	Data      any    `json:"data"`
}

// hook queues event for every active webhook of the tenant subscribed to it,
// inside the transaction of the fact it reports, in the order of key
// (conversationKey or leadKey).
func (w *wtx) hook(ctx context.Context, event, key string, data any) error {
	if event == "" {
		return nil
	}
	hooks, err := w.activeHooks(ctx)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if !slices.Contains(h.Events, event) {
			continue
		}
		if _, err := w.enqueue(ctx, KindWebhook, h.ID, h.URL, event, key, hookPayload{event, Time(w.now), data}); err != nil {
			return err
		}
	}
	return nil
}

// activeHooks returns the tenant's active webhooks: every written message
// needs them (a lookup per message was one statement in ten on SQLite's send
// path), and they seldom change (hookCache).
func (w *wtx) activeHooks(ctx context.Context) ([]Webhook, error) {
	if hooks, ok := w.hooks.get(w.tenant); ok {
		return hooks, nil
	}
	rows, err := w.QueryContext(ctx, `SELECT id, url, events FROM webhooks WHERE tenant_id = ? AND active = 1`, w.tenant)
	if err != nil {
		return nil, mapErr("read webhooks", err)
	}
	defer rows.Close()
	hooks := []Webhook{}
	for rows.Next() {
		var h Webhook
		var events string
		if err := rows.Scan(&h.ID, &h.URL, &events); err != nil {
			return nil, mapErr("scan webhook", err)
		}
		_ = json.Unmarshal([]byte(events), &h.Events)
		hooks = append(hooks, h)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("read webhooks", err)
	}
	w.hooks.put(w.tenant, hooks)
	return hooks, nil
}

// forgetWebhooks drops the tenant's cached webhooks after a change to them.
func (w *wtx) forgetWebhooks() { w.hooks.forget(w.tenant) }

// hookCache remembers each tenant's active webhooks. Every write to a
// tenant's webhooks forgets its entry, and a write of the tenant that fails
// does too (it may have read the failed write's rows), so on one server an
// entry is exact. On PostgreSQL another server on the same database may
// change them without this one knowing, so an entry is only trusted for ttl
// there: a webhook made or disabled elsewhere takes effect within it.
type hookCache struct {
	mu  sync.Mutex
	ttl time.Duration // 0: until forgotten
	m   map[string]hookEntry
}

type hookEntry struct {
	hooks []Webhook
	at    time.Time
}

// pgCacheTTL is how long a PostgreSQL server trusts what it cached of rows
// another server on the same database may change (webhooks, assistants).
const pgCacheTTL = time.Second

func (c *hookCache) get(tenant string) ([]Webhook, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[tenant]
	if !ok || c.ttl > 0 && time.Since(e.at) > c.ttl {
		return nil, false
	}
	return e.hooks, true
}

func (c *hookCache) put(tenant string, hooks []Webhook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]hookEntry{}
	}
	c.m[tenant] = hookEntry{hooks: hooks, at: time.Now()}
}

func (c *hookCache) forget(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, tenant)
}
