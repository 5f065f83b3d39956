package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Channel is where conversations happen (a WhatsApp number, a web widget…).
type Channel struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	AssistantID *string `json:"assistant_id"`
	CreatedAt   Time    `json:"created_at"`
	UpdatedAt   Time    `json:"updated_at"`
	// IsDefault marks the tenant's default channel (type api): messages
	// that name no channel go there, and it cannot be deleted.
	IsDefault bool `json:"is_default"`
}

// ChannelInput creates or partially updates a channel; AssistantID "" clears it.
type ChannelInput struct {
	Name        *string
	Type        *string
	AssistantID *string
}

// ChannelTypes are the accepted channel types.
var ChannelTypes = []string{"whatsapp", "telegram", "email", "sms", "web", "api"}

// ErrUnknownAssistant reports a channel pointing at an assistant the tenant lacks.
var ErrUnknownAssistant = fmt.Errorf("assistant %w", ErrNotFound)

// ErrDefaultChannel refuses to delete the tenant's default channel.
var ErrDefaultChannel = fmt.Errorf("the default channel cannot be deleted: %w", ErrConflict)

// The default channel's name and type, as created with a tenant.
const (
	DefaultChannelName = "API"
	DefaultChannelType = "api"
)

const channelColumns = `id, name, type, assistant_id, created_at, updated_at, is_default`

func scanChannel(row interface{ Scan(...any) error }) (Channel, error) {
	var c Channel
	var asst sql.NullString
	err := row.Scan(&c.ID, &c.Name, &c.Type, &asst, &c.CreatedAt, &c.UpdatedAt, &c.IsDefault)
	c.AssistantID = strPtr(asst)
	return c, err
}

func checkAssistant(ctx context.Context, w *wtx, id *string) error {
	if id == nil || *id == "" {
		return nil
	}
	var n int
	if err := w.QueryRowContext(ctx, `SELECT count(*) FROM assistants WHERE tenant_id = ? AND id = ?`, w.tenant, *id).Scan(&n); err != nil {
		return mapErr("check assistant", err)
	}
	if n == 0 {
		return ErrUnknownAssistant
	}
	return nil
}

// CreateChannel adds a channel.
func (t *Tenant) CreateChannel(ctx context.Context, in ChannelInput) (Channel, error) {
	var c Channel
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		if err := checkAssistant(ctx, w, in.AssistantID); err != nil {
			return err
		}
		var err error
		c, err = scanChannel(w.QueryRowContext(ctx, `INSERT INTO channels (id, tenant_id, name, type, assistant_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+channelColumns, NewID(), t.id, deref(in.Name), deref(in.Type), nullStr(in.AssistantID), w.now, w.now))
		return mapErr("insert channel", err)
	})
	return c, err
}

// Channel returns one channel.
func (t *Tenant) Channel(ctx context.Context, id string) (Channel, error) {
	c, err := scanChannel(t.s.queryRow(ctx, `SELECT `+channelColumns+` FROM channels WHERE tenant_id = ? AND id = ?`, t.id, id))
	return c, mapErr("get channel "+id, err)
}

// ListChannels lists channels oldest first.
func (t *Tenant) ListChannels(ctx context.Context, p Page) ([]Channel, int, error) {
	var total int
	if err := t.s.queryRow(ctx, `SELECT count(*) FROM channels WHERE tenant_id = ?`, t.id).Scan(&total); err != nil {
		return nil, 0, mapErr("count channels", err)
	}
	rows, err := t.s.query(ctx, `SELECT `+channelColumns+` FROM channels WHERE tenant_id = ?
ORDER BY created_at, id LIMIT ? OFFSET ?`, t.id, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, mapErr("list channels", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, 0, mapErr("scan channel", err)
		}
		out = append(out, c)
	}
	return out, total, mapErr("list channels", rows.Err())
}

// UpdateChannel applies a partial update.
func (t *Tenant) UpdateChannel(ctx context.Context, id string, in ChannelInput) (Channel, error) {
	var c Channel
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		cur, err := scanChannel(w.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE tenant_id = ? AND id = ?`, t.id, id))
		if err != nil {
			return mapErr("get channel "+id, err)
		}
		if err := checkAssistant(ctx, w, in.AssistantID); err != nil {
			return err
		}
		if in.Name != nil {
			cur.Name = *in.Name
		}
		if in.Type != nil {
			cur.Type = *in.Type
		}
		if in.AssistantID != nil {
			cur.AssistantID = in.AssistantID
		}
		c, err = scanChannel(w.QueryRowContext(ctx, `UPDATE channels SET name = ?, type = ?, assistant_id = ?, updated_at = ?
WHERE tenant_id = ? AND id = ? RETURNING `+channelColumns, cur.Name, cur.Type, nullStr(cur.AssistantID), w.now, t.id, id))
		return mapErr("update channel "+id, err)
	})
	return c, err
}

// DeleteChannel removes a channel; its conversations keep their history.
// The default channel stays (ErrDefaultChannel): messages that name no
// channel need somewhere to go.
func (t *Tenant) DeleteChannel(ctx context.Context, id string) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		var isDefault bool
		err := w.QueryRowContext(ctx, `SELECT is_default FROM channels WHERE tenant_id = ? AND id = ?`, t.id, id).Scan(&isDefault)
		if err != nil {
			return mapErr("delete channel "+id, err)
		}
		if isDefault {
			return ErrDefaultChannel
		}
		_, err = w.ExecContext(ctx, `DELETE FROM channels WHERE tenant_id = ? AND id = ?`, t.id, id)
		return mapErr("delete channel "+id, err)
	})
}

// DefaultChannel returns the id of the tenant's default channel. It never
// changes (the channel cannot be deleted), so it is remembered per tenant:
// /ai/process asks for it on every request.
func (t *Tenant) DefaultChannel(ctx context.Context) (string, error) {
	return defaultChannel(ctx, &t.s.defaultChannels, t.id, t.s.queryRow)
}

// defaultChannel returns the tenant's default channel (wtx's view: the
// transaction's own reads see a channel it just made).
func (w *wtx) defaultChannel(ctx context.Context) (string, error) {
	id, err := defaultChannel(ctx, w.defaultChannels, w.tenant, w.QueryRowContext)
	if errors.Is(err, ErrNotFound) {
		return "", ErrUnknownChannel
	}
	return id, err
}

func defaultChannel(ctx context.Context, known *sync.Map, tenant string,
	queryRow func(context.Context, string, ...any) *sql.Row) (string, error) {
	if id, ok := known.Load(tenant); ok {
		return id.(string), nil
	}
	var id string
	err := queryRow(ctx, `SELECT id FROM channels WHERE tenant_id = ? AND is_default = 1`, tenant).Scan(&id)
	if err != nil {
		return "", mapErr("find default channel", err)
	}
	known.Store(tenant, id)
	return id, nil
}

// insertDefaultChannel gives a tenant its default channel. created_at is
// the tenant's own, so that the channel lists first (oldest first) also for
// tenants that got it by migration.
func insertDefaultChannel(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, tenantID string, createdAt int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO channels (id, tenant_id, name, type, assistant_id, is_default, created_at, updated_at)
VALUES (?, ?, ?, ?, NULL, ?, ?, ?)`, NewID(), tenantID, DefaultChannelName, DefaultChannelType, true, createdAt, createdAt)
	return mapErr("insert default channel", err)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
