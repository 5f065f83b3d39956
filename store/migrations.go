package store

import (
	"context"
	"database/sql"
	"fmt"
)

// step carries a database from one schema version to the next. schema.sql
// (every statement IF NOT EXISTS) runs between the befores and the afters, so
// a step holds only what schema.sql cannot say for an existing database:
// before, ALTER TABLE and changed indexes; after, backfills of what schema.sql
// just created. A version whose change schema.sql covers alone is step{}.
// Every version leaves a snapshot in testdata/schema_vN.sql for the tests.
type step struct {
	before, after func(ctx context.Context, tx *sql.Tx) error
}

// steps[0] takes version 1 to 2, and so on.
var steps = []step{
	{},                      // 2: idempotency table
	{},                      // 3: batches, webhooks, deliveries
	{after: backfillSearch}, // 4: full-text search of conversations and messages
	{after: markIndexed},    // 5: messages indexed in batches (search_state)
	{before: dropActivityIndexes, after: markConversationsIndexed}, // 6: conversations indexed in batches; leaner indexes
	{}, // 7: search indexes merge two segments to a level (usermerge)
	{before: addDeliveryKeys, after: backfillDeliveryKeys},            // 8: deliveries ordered per conversation or lead, not per destination
	{before: addDefaultChannelColumn, after: moveOntoDefaultChannels}, // 9: a default channel per tenant; meta searched at any depth
}

// SchemaVersion is the version schema.sql describes.
func SchemaVersion() int { return len(steps) + 1 }

// migrate brings the database to SchemaVersion in one transaction: a fresh
// database gets schema.sql; an older one runs the befores of its missing
// steps, schema.sql, then their afters. One transaction for the lot means a
// failed or interrupted migration leaves the database exactly as it was.
func migrate(ctx context.Context, db *sql.DB, schema string) error {
	// The version is read inside the write transaction (the writer begins
	// IMMEDIATE): processes opening an old database at once (a server and a
	// CLI command) take turns, and the later ones find the migration done
	// instead of running its steps a second time.
	return inTx(ctx, db, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if version > SchemaVersion() {
			return fmt.Errorf("store: database schema version %d is newer than this binary's %d", version, SchemaVersion())
		}
		if version == 0 {
			version = SchemaVersion() // fresh database: schema.sql is the whole story
		}
		pending := steps[version-1:]
		for i, s := range pending {
			if s.before != nil {
				if err := s.before(ctx, tx); err != nil {
					return fmt.Errorf("store: migrate to version %d: %w", version+i+1, err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("store: apply schema: %w", err)
		}
		for i, s := range pending {
			if s.after != nil {
				if err := s.after(ctx, tx); err != nil {
					return fmt.Errorf("store: migrate to version %d: %w", version+i+1, err)
				}
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()))
		return err
	})
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// markIndexed records that a version-4 database's messages are all indexed
// (its insert trigger did it).
func markIndexed(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE search_state SET messages_indexed_through = (SELECT coalesce(max(pk), 0) FROM messages)`)
	return err
}

// dropActivityIndexes drops the version-5 lead, channel and assistant indexes
// of conversations, which schema.sql then makes again without updated_at.
func dropActivityIndexes(ctx context.Context, tx *sql.Tx) error {
	for _, ix := range []string{"conversations_by_lead", "conversations_by_channel", "conversations_by_assistant"} {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix); err != nil {
			return err
		}
	}
	return nil
}

// markConversationsIndexed gives an older search_state its version-6 column
// (schema.sql already made it when the table is new) and records that every
// conversation is indexed (they were, on insert).
func markConversationsIndexed(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('search_state')
WHERE name = 'conversations_indexed_through'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE search_state
ADD COLUMN conversations_indexed_through INTEGER NOT NULL DEFAULT 0`); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE search_state
SET conversations_indexed_through = (SELECT coalesce(max(pk), 0) FROM conversations)`)
	return err
}

// backfillSearch indexes the messages and conversations stored before
// version 4.
func backfillSearch(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO messages_search (rowid, body)
SELECT rowid, content || ' ' || coalesce(extracted_text, '') FROM messages`); err != nil {
		return fmt.Errorf("index messages: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO conversation_search (rowid, ident, meta)
SELECT c.rowid, `+searchIdent+`, `+searchMeta+` FROM conversations c
LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id`); err != nil {
		return fmt.Errorf("index conversations: %w", err)
	}
	return nil
}

// addDeliveryKeys gives a version-3-to-7 deliveries table its version-8
// columns (schema.sql makes them when the table is new) and drops the
// per-destination queue indexes that the key and head indexes replace.
func addDeliveryKeys(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('deliveries')
WHERE name = 'order_key'`).Scan(&n); err != nil {
		return err
	}
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'deliveries'`).Scan(&exists); err != nil {
		return err
	}
	if exists == 1 && n == 0 {
		for _, q := range []string{
			`ALTER TABLE deliveries ADD COLUMN order_key TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE deliveries ADD COLUMN head INTEGER NOT NULL DEFAULT 0`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	for _, ix := range []string{"deliveries_queue", "deliveries_due"} {
		if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix); err != nil {
			return err
		}
	}
	return nil
}

// backfillDeliveryKeys keys the pending deliveries of an older database and
// marks the oldest of each key as its head. Delivered and failed rows keep
// no key until a manual retry needs one (RetryDelivery derives it then):
// reading every payload of a long outbox history would make the migration
// slow for nothing.
func backfillDeliveryKeys(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET order_key = `+orderKeyOfPayload+`
WHERE status = 'pending' AND order_key = ''`); err != nil {
		return fmt.Errorf("key deliveries: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE deliveries SET head = 1 WHERE rowid IN (
SELECT min(rowid) FROM deliveries WHERE status = 'pending' GROUP BY destination, order_key)`)
	return err
}

// addDefaultChannelColumn gives an older channels table its version-9
// is_default column (schema.sql makes it when the table is new, and then the
// unique index on it).
func addDefaultChannelColumn(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('channels') WHERE name = 'is_default'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `ALTER TABLE channels ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0`)
	return err
}

// moveOntoDefaultChannels makes each tenant's default channel and moves what
// named no channel onto it: conversations (the default assistant's thread
// key 'a:<assistant>' becomes the channel's 'c:<channel>', so the next
// message finds the same conversation), their messages (the seed query
// ?channel_id=&lead= reads messages by channel) and pending debounce
// batches (their channel is part of the lock that keeps one turn at a time
// per conversation). Old stream events keep channel_id ”: they expire
// within PARLEY_EVENT_RETENTION. It also re-indexes the meta of
// conversations whose meta nests objects or arrays, now searched at any
// depth; the rest index to the same text as before.
func moveOntoDefaultChannels(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, created_at FROM tenants t
WHERE NOT EXISTS (SELECT 1 FROM channels WHERE tenant_id = t.id AND is_default = 1)`)
	if err != nil {
		return err
	}
	type tenant struct {
		id      string
		created int64
	}
	var tenants []tenant
	for rows.Next() {
		var t tenant
		if err := rows.Scan(&t.id, &t.created); err != nil {
			rows.Close()
			return err
		}
		tenants = append(tenants, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tenants {
		if err := insertDefaultChannel(ctx, tx, t.id, t.created); err != nil {
			return err
		}
	}
	const def = `(SELECT id FROM channels ch WHERE ch.tenant_id = %s.tenant_id AND ch.is_default = 1)`
	for _, q := range []string{
		`UPDATE conversations SET channel_id = ` + fmt.Sprintf(def, "conversations") + `,
  thread_key = CASE WHEN thread_key = 'a:' || (SELECT id FROM assistants a WHERE a.tenant_id = conversations.tenant_id AND a.is_default = 1)
    THEN 'c:' || ` + fmt.Sprintf(def, "conversations") + ` ELSE thread_key END
WHERE channel_id IS NULL`,
		`UPDATE messages SET channel_id = ` + fmt.Sprintf(def, "messages") + ` WHERE channel_id IS NULL`,
		`UPDATE batches SET channel_id = ` + fmt.Sprintf(def, "batches") + ` WHERE channel_id = ''`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("move onto default channels: %w", err)
		}
	}
	// Conversations past conversations_indexed_through are indexed later by
	// the indexer, with the new document already.
	_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO conversation_search (rowid, ident, meta)
SELECT c.rowid, `+searchIdent+`, `+searchMeta+` FROM conversations c
LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id
WHERE c.pk <= (SELECT conversations_indexed_through FROM search_state)
AND EXISTS (SELECT 1 FROM json_each(c.meta) WHERE type IN ('object', 'array'))`)
	if err != nil {
		return fmt.Errorf("index nested meta: %w", err)
	}
	return nil
}
