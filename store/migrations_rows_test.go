package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// v1Rows are rows written with plain SQL against the version 1 snapshot, as a
// database made by the first release would hold them.
var v1Rows = []string{
	`INSERT INTO tenants (id, name, postback_secret, last_event_seq, created_at)
	 VALUES ('t1', 'old tenant', 'whsec_old', 2, 1700000000000)`,
	`INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, created_at)
	 VALUES ('k1', 't1', 'default', X'` + hashHex("prl_old-key") + `', 'prl_old-', 1700000000000)`,
	`INSERT INTO assistants (id, tenant_id, name, is_default, created_at, updated_at)
	 VALUES ('a1', 't1', 'Default assistant', 1, 1700000000000, 1700000000000)`,
	`INSERT INTO leads (tenant_id, id, name, phone, email, meta, created_at, updated_at)
	 VALUES ('t1', '5511999999999@s.whatsapp.net', 'Ana', '+5511999999999', 'ana@x.com', '{"src":"wa"}', 1700000000000, 1700000001000)`,
	`INSERT INTO conversations (id, tenant_id, lead_id, assistant_id, thread_key, unread_count, meta,
	   last_message_content, last_message_role, last_message_at, created_at, updated_at)
	 VALUES ('c1', 't1', '5511999999999@s.whatsapp.net', 'a1', 'a:a1', 1, '{"k":"v"}', 'oi', 'user', 1700000002000, 1700000002000, 1700000002000)`,
	`INSERT INTO messages (id, tenant_id, conversation_id, lead_id, role, content, message_type, status, created_at)
	 VALUES ('m1', 't1', 'c1', '5511999999999@s.whatsapp.net', 'user', 'oi', 'text', 'delivered', 1700000002000)`,
	`INSERT INTO messages (id, tenant_id, conversation_id, lead_id, role, content, message_type, url, status, created_at)
	 VALUES ('m2', 't1', 'c1', '5511999999999@s.whatsapp.net', 'assistant', 'olá', 'image', 'https://x/y.png', 'sent', 1700000003000)`,
	`INSERT INTO events (tenant_id, seq, type, conversation_id, lead_id, payload, created_at)
	 VALUES ('t1', 1, 'new_message', 'c1', '5511999999999@s.whatsapp.net', '{"type":"new_message","data":{}}', 1700000002000)`,
}

func hashHex(key string) string {
	const digits = "0123456789abcdef"
	h := store.HashKey(key)
	out := make([]byte, 0, 2*len(h))
	for _, b := range h {
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}

// TestMigrationKeepsRows builds a version 1 database with rows in it, opens
// it with the current schema and checks that the rows are all there, usable
// through the store, and that the schema is the one of a fresh database.
func TestMigrationKeepsRows(t *testing.T) {
	ctx := context.Background()
	snap, ok := snapshots(t)[1]
	if !ok {
		t.Fatal("testdata/schema_v1.sql is missing")
	}
	path := filepath.Join(t.TempDir(), "v1.db")
	buildAt(t, path, snap, 1, v1Rows...)

	st := storetest.Open(t, path)
	ten := st.Tenant("t1")
	info, err := ten.Info(ctx)
	if err != nil || info.Name != "old tenant" || info.PostbackSecret != "whsec_old" {
		t.Fatalf("tenant after migration = %+v, %v", info, err)
	}
	k, err := st.KeyByHash(ctx, store.HashKey("prl_old-key"))
	if err != nil || k.ID != "k1" || k.TenantID != "t1" {
		t.Fatalf("old key after migration = %+v, %v", k, err)
	}
	def, err := ten.DefaultAssistant(ctx)
	if err != nil || def.ID != "a1" || def.HistoryLimit != 20 || !def.PauseOnHuman || def.DebounceSeconds != 5 {
		t.Fatalf("default assistant after migration = %+v, %v", def, err)
	}
	l, err := ten.Lead(ctx, "5511999999999@s.whatsapp.net")
	if err != nil || l.Name == nil || *l.Name != "Ana" || l.Meta["src"] != "wa" || int64(l.UpdatedAt) != 1700000001000 {
		t.Fatalf("lead after migration = %+v, %v", l, err)
	}
	c, err := ten.Conversation(ctx, "c1")
	if err != nil || c.LeadID != l.ID || c.UnreadCount != 1 || !c.IsAIActive || c.Status != store.StatusActive ||
		c.LastMessage == nil || c.LastMessage.Content != "oi" || c.Meta["k"] != "v" {
		t.Fatalf("conversation after migration = %+v, %v", c, err)
	}
	msgs, err := ten.ConversationMessages(ctx, "c1")
	if err != nil || len(msgs) != 2 || msgs[0].ID != "m1" || msgs[1].ID != "m2" || msgs[1].URL == nil || *msgs[1].URL != "https://x/y.png" {
		t.Fatalf("messages after migration = %+v, %v", msgs, err)
	}
	b, err := ten.EventBounds(ctx)
	if err != nil || b.Last != 2 || b.Oldest != 1 {
		t.Fatalf("event bounds after migration = %+v, %v", b, err)
	}

	// The migrated database takes new writes on top of the old rows: the
	// message lands in the old conversation and the event log goes on at 3.
	stored, err := ten.AddMessage(ctx, store.MessageInput{LeadID: l.ID, Role: store.RoleUser, Content: "de novo", Status: store.MsgDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Conversation.ID != "c1" || stored.Conversation.UnreadCount != 2 {
		t.Errorf("new message went to %s (unread %d), want the migrated conversation c1 with 2 unread",
			stored.Conversation.ID, stored.Conversation.UnreadCount)
	}
	if b, _ := ten.EventBounds(ctx); b.Last <= 2 {
		t.Errorf("event seq after a new message = %d, want it to continue after 2", b.Last)
	}
	if _, err := ten.CreateLead(ctx, store.LeadInput{Phone: ptr("+5511999999999")}); err == nil {
		t.Error("the migrated lead's phone is no longer unique")
	}
	st.Close()

	if v := userVersion(t, path); v != store.SchemaVersion() {
		t.Fatalf("user_version = %d, want %d", v, store.SchemaVersion())
	}
	diffSchemas(t, schemaOf(t, path), freshSchema(t))
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentOpensMigrateOnce: a server and a CLI command opening an old
// database at the same moment take turns; the second finds the migration
// done instead of running its steps (backfills included) a second time. A
// plain connection holds the write lock while both read the old version, so
// that they really meet.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	snap, ok := snapshots(t)[1]
	if !ok {
		t.Fatal("testdata/schema_v1.sql is missing")
	}
	path := filepath.Join(t.TempDir(), "v1.db")
	buildAt(t, path, snap, 1, v1Rows...)
	blocker := rawDB(t, path)
	ctx := context.Background()
	conn, err := blocker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA journal_mode = WAL", "BEGIN IMMEDIATE"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const n = 3
	errs := make(chan error, n)
	for range n {
		go func() {
			st, err := store.Open(ctx, path, storetest.Schema(t), store.Options{})
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	time.Sleep(500 * time.Millisecond) // every opener has read user_version 1 and waits for the lock
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent open of an old database: %v", err)
		}
	}
	if v := userVersion(t, path); v != store.SchemaVersion() {
		t.Fatalf("user_version = %d, want %d", v, store.SchemaVersion())
	}
	diffSchemas(t, schemaOf(t, path), freshSchema(t))
	st := storetest.Open(t, path)
	msgs, err := st.Tenant("t1").ConversationMessages(ctx, "c1")
	if err != nil || len(msgs) != 2 {
		t.Errorf("messages after concurrent migrations = %d, %v; want the 2 old ones", len(msgs), err)
	}
}
