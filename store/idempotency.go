package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// IdempotencyTTL is how long a request key is remembered (API.md §3.5).
const IdempotencyTTL = 24 * time.Hour

// Idempotent is what is remembered of a keyed request.
type Idempotent struct {
	MessageID  string
	StatusCode int    // 0 while the turn has not finished
	Response   []byte // the JSON sent, once finished
	CreatedAt  Time
}

// Idempotent looks a request key up; expired records count as absent.
func (t *Tenant) Idempotent(ctx context.Context, key string) (Idempotent, bool, error) {
	var r Idempotent
	var code sql.NullInt64
	var resp sql.NullString
	err := t.s.queryRow(ctx, `SELECT message_id, status_code, response, created_at FROM idempotency
WHERE tenant_id = ? AND key = ? AND created_at >= ?`, t.id, key, t.s.now().Add(-IdempotencyTTL).UnixMilli()).
		Scan(&r.MessageID, &code, &resp, &r.CreatedAt)
	if err == sql.ErrNoRows {
		return r, false, nil
	}
	if err != nil {
		return r, false, mapErr("get idempotency key", err)
	}
	r.StatusCode, r.Response = int(code.Int64), []byte(resp.String)
	return r, true, nil
}

// rememberKey records a request key for a message inside its transaction,
// replacing an expired record of the same key. A live record of the key
// fails the write with ErrConflict, so that the message is never stored
// twice for one key even if two requests with that key ever race past the
// pipeline's in-process deduplication.
func rememberKey(ctx context.Context, w *wtx, key, messageID string) error {
	res, err := w.ExecContext(ctx, `INSERT INTO idempotency (tenant_id, key, message_id, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, key) DO UPDATE SET message_id = excluded.message_id, status_code = NULL, response = NULL,
created_at = excluded.created_at WHERE idempotency.created_at < ?`,
		w.tenant, key, messageID, w.now, w.now-IdempotencyTTL.Milliseconds())
	if err != nil {
		return mapErr("remember idempotency key", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("store: idempotency key is in use by another request: %w", ErrConflict)
	}
	return nil
}

// FinishIdempotent stores the response of a keyed request.
func (t *Tenant) FinishIdempotent(ctx context.Context, key string, status int, response []byte) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		return finishKey(ctx, w, key, status, response)
	})
}

func finishKey(ctx context.Context, w *wtx, key string, status int, response []byte) error {
	_, err := w.ExecContext(ctx, `UPDATE idempotency SET status_code = ?, response = ? WHERE tenant_id = ? AND key = ?`,
		status, string(response), w.tenant, key)
	return mapErr("finish idempotency key", err)
}

// SetExtractedText records the text the server drew from a media message.
func (t *Tenant) SetExtractedText(ctx context.Context, messageID, text string) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		_, err := w.ExecContext(ctx, `UPDATE messages SET extracted_text = ? WHERE tenant_id = ? AND id = ?`, text, t.id, messageID)
		return mapErr("set extracted text", err)
	})
}
