package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// copyFixture is a SQLite database holding every kind of row, and what a
// test needs to know of it.
type copyFixture struct {
	path          string
	st            *Store // still open: a server may run on the source
	tenant        *Tenant
	key, revoked  string // API keys: a live one and a revoked one
	conversation  string
	lastEvent     int64
	pendingBefore []string // pending heads, before any delivery is settled
}

// seedCopyFixture fills a fresh SQLite database through the store's API.
func seedCopyFixture(t *testing.T) copyFixture {
	t.Helper()
	ctx := context.Background()
	f := copyFixture{path: filepath.Join(t.TempDir(), "parley.db")}
	f.st = openAtForTest(t, f.path, Options{})
	info, key, err := f.st.CreateTenant(ctx, "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	f.tenant, f.key = f.st.Tenant(info.ID), key
	if _, _, err := f.st.CreateTenant(ctx, "Other", ""); err != nil {
		t.Fatal(err)
	}
	old, revoked, err := f.tenant.CreateKey(ctx, "old", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.RevokeKey(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	f.revoked = revoked
	as, err := f.tenant.CreateAssistant(ctx, AssistantInput{Name: ptr("Sales"), Temperature: ptr(0.7),
		DebounceSeconds: ptr(1.5), PauseOnHuman: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := f.tenant.CreateChannel(ctx, ChannelInput{Name: ptr("WhatsApp"), Type: ptr("whatsapp"), AssistantID: &as.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tenant.CreateWebhook(ctx, WebhookInput{URL: ptr("http://hooks.example:9/in"), Events: WebhookEvents}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tenant.CreateLead(ctx, LeadInput{ID: ptr("lead-1"), Name: ptr("José Álvarez"), Phone: ptr("+5581999990000"),
		Email: ptr("jose@example.com"), Company: ptr("Açaí Ltda"), Meta: Meta{"tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	msgs := []MessageInput{
		{LeadID: "lead-1", ChannelID: ch.ID, Role: "user", Content: "Olá, preço?", MessageType: "text", Status: MsgDelivered,
			ExternalID: "wa-1"}, // keyed and batched below
		{LeadID: "lead-1", ChannelID: ch.ID, Role: "user", MessageType: "image", URL: "https://cdn.example/cat.jpg",
			ExtractedText: "JPEG 640x480", Status: MsgDelivered},
		{LeadID: "lead-1", ChannelID: ch.ID, Role: "user", MessageType: "audio", URL: "https://cdn.example/a.ogg",
			ExtractedText: "no transcription available", Status: MsgDelivered},
		{LeadID: "lead-1", ChannelID: ch.ID, Role: "user", MessageType: "document", URL: "https://cdn.example/d.pdf",
			ExtractedText: "Tabela de preços", Status: MsgDelivered},
		{LeadID: "lead-1", ChannelID: ch.ID, Role: "assistant", Content: "R$ 10", MessageType: "text", Status: MsgDelivered, FromAI: true},
		{LeadID: "lead-2", CreateLead: true, Role: "user", Content: "hi \u00e9\U0001F600 {\"k\": 1}", MessageType: "text", Status: MsgPending},
	}
	for i, in := range msgs {
		s, err := f.tenant.AddMessage(ctx, in)
		if i == 0 {
			s, err = addQueued(ctx, f.tenant, in, "wa-1", "http://post.example:9/pb")
		}
		if err != nil {
			t.Fatalf("add %s message: %v", in.MessageType, err)
		}
		if in.LeadID == "lead-1" {
			f.conversation = s.Conversation.ID
		}
	}
	if _, err := f.tenant.UpdateConversation(ctx, f.conversation, ConversationPatch{
		Meta: Meta{"address": map[string]any{"city": "Recife"}, "order": 42, "vip": true}}); err != nil {
		t.Fatal(err)
	}
	// A batch answered (a postback queued) and one left open.
	b, ok, err := f.tenant.Batch(ctx, f.conversation)
	if err != nil || !ok {
		t.Fatalf("batch: %v %v", ok, err)
	}
	if _, err := f.tenant.CompleteBatch(ctx, b, "Olá José"); err != nil {
		t.Fatal(err)
	}
	if _, err := addQueued(ctx, f.tenant, MessageInput{LeadID: "lead-2", Role: "user", Content: "later", MessageType: "text",
		Status: MsgDelivered}, "", "http://post.example:9/pb"); err != nil {
		t.Fatal(err)
	}
	// Settle some deliveries: a head delivered, another failed, the rest pending.
	settled := pendingHeads(t, f.st)
	if len(settled) < 3 {
		t.Fatalf("pending heads = %v, want at least 3", settled)
	}
	for i, status := range []string{DeliveryDelivered, DeliveryFailed} {
		id := settled[i][strings.LastIndexByte(settled[i], ' ')+1:]
		if err := f.st.RecordAttempt(ctx, f.tenant.ID(), id, Attempt{StatusCode: 500, Err: "boom", Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	f.pendingBefore = pendingHeads(t, f.st)
	bounds, err := f.tenant.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.lastEvent = bounds.Last
	return f
}

// pendingHeads lists every destination's pending heads, sorted: order is
// kept within a key (each key's head is the one to compare), while heads of
// different keys due in the same millisecond come in either order.
func pendingHeads(t *testing.T, st *Store) []string {
	t.Helper()
	ctx := context.Background()
	queues, err := st.DeliveryQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, q := range queues {
		heads, err := st.DeliveryHeads(ctx, q.Destination, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range heads {
			ids = append(ids, q.Destination+" "+h.OrderKey+" "+h.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// copyKeys orders each table's rows the same way on both engines.
var copyKeys = map[string]string{"tenants": "id", "api_keys": "id", "events": "tenant_id, seq",
	"idempotency": "tenant_id, key", "batches": "tenant_id, conversation_id"}

// tableRows reads a table's copied columns, SQLite's values as the copy
// converts them, so that the two engines' rows compare equal.
func tableRows(t *testing.T, db *sql.DB, tb copyTable, sqlite bool) [][]any {
	t.Helper()
	var names []string
	var kinds []byte
	for _, f := range strings.Fields(tb.columns) {
		name, kind, _ := strings.Cut(f, ":")
		names, kinds = append(names, name), append(kinds, (kind + "t")[0])
	}
	key := copyKeys[tb.name]
	if key == "" {
		key = "tenant_id, id"
	}
	rows, err := db.Query(`SELECT ` + strings.Join(names, ", ") + ` FROM ` + tb.name + ` ORDER BY ` + key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, ptrs := make([]any, len(names)), make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if sqlite {
				if vals[i], err = copyValue(kinds[i], v); err != nil {
					t.Fatal(err)
				}
			} else if s, ok := v.(string); ok && kinds[i] == 'x' {
				vals[i] = []byte(s)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCopyToPostgres copies a database with every kind of row while its
// store is open, then checks the rows and what the PostgreSQL store does
// with them: keys, search, event replay and numbering, the outbox.
func TestCopyToPostgres(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		t.Skip("runs once, in the SQLite round (it uses both engines)")
	}
	target := pgtest.Schema(t) // skips without PostgreSQL
	ctx := context.Background()
	f := seedCopyFixture(t)
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := Copy(ctx, f.path, target, string(schema))
	if err != nil {
		t.Fatal(err)
	}

	// Every row, column by column (JSON text byte for byte).
	src, err := sql.Open("sqlite", dsn(f.path, true, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := pgtest.Open(t, target)
	for _, tb := range copyTables {
		want, got := tableRows(t, src, tb, true), tableRows(t, dst, tb, false)
		if int64(len(want)) != counts.Rows(tb.name) || len(want) == 0 && tb.name != "idempotency" {
			t.Errorf("%s: counted %d, source has %d", tb.name, counts.Rows(tb.name), len(want))
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s differs:\nsqlite   %v\npostgres %v", tb.name, want, got)
		}
	}
	var docs int64
	if err := dst.QueryRow(`SELECT count(*) FROM conversation_search`).Scan(&docs); err != nil || docs != counts.Rows("conversations") {
		t.Errorf("conversation_search has %d rows (%v), want one per conversation (%d)", docs, err, counts.Rows("conversations"))
	}

	pg, err := Open(ctx, target, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	pt := pg.Tenant(f.tenant.ID())
	if k, err := pg.KeyByHash(ctx, HashKey(f.key)); err != nil || k.TenantID != f.tenant.ID() {
		t.Errorf("the live key on PostgreSQL = %+v, %v", k, err)
	}
	if _, err := pg.KeyByHash(ctx, HashKey(f.revoked)); !errors.Is(err, ErrNotFound) {
		t.Errorf("the revoked key on PostgreSQL = %v, want ErrNotFound", err)
	}
	for _, q := range []ConversationQuery{{Search: "jose alvarez"}, {Search: "ÁLVAREZ"}, {Meta: "recife"}} {
		found, n, err := pt.SearchConversations(ctx, ConversationQuery{Limit: 10, Search: q.Search, Meta: q.Meta})
		if err != nil || n != 1 || len(found) != 1 || found[0].ID != f.conversation {
			t.Errorf("search %+v on PostgreSQL = %d %v, want conversation %s", q, n, err, f.conversation)
		}
	}

	// Replay: a client that saw event 3 gets 4… on PostgreSQL, as on SQLite.
	const seen = 3
	want, err := f.tenant.EventsAfter(ctx, seen, f.lastEvent, EventFilter{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pt.EventsAfter(ctx, seen, f.lastEvent, EventFilter{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !reflect.DeepEqual(want, got) {
		t.Errorf("events after %d: sqlite %d, postgres %d, or they differ", seen, len(want), len(got))
	}
	if b, err := pt.EventBounds(ctx); err != nil || b.Last != f.lastEvent {
		t.Errorf("PostgreSQL event bounds = %+v, %v; want last %d", b, err, f.lastEvent)
	}
	// The outbox: the same heads, and the same next ones once they settle.
	if got := pendingHeads(t, pg); !reflect.DeepEqual(f.pendingBefore, got) {
		t.Errorf("pending heads:\nsqlite   %v\npostgres %v", f.pendingBefore, got)
	}
	for _, st := range []*Store{f.st, pg} {
		for _, h := range f.pendingBefore {
			id := h[strings.LastIndexByte(h, ' ')+1:]
			if err := st.RecordAttempt(ctx, f.tenant.ID(), id, Attempt{StatusCode: 200, Status: DeliveryDelivered}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sqliteNext, pgNext := pendingHeads(t, f.st), pendingHeads(t, pg)
	if len(sqliteNext) == 0 || !reflect.DeepEqual(sqliteNext, pgNext) {
		t.Errorf("next heads:\nsqlite   %v\npostgres %v", sqliteNext, pgNext)
	}

	// The next event written on PostgreSQL follows the last one copied.
	if _, err := pt.AddMessage(ctx, MessageInput{LeadID: "lead-1", Role: "user", Content: "again", MessageType: "text",
		Status: MsgDelivered}); err != nil {
		t.Fatal(err)
	}
	next, err := pt.EventsAfter(ctx, f.lastEvent, f.lastEvent+100, EventFilter{}, 1)
	if err != nil || len(next) != 1 || next[0].Seq != f.lastEvent+1 {
		t.Errorf("the first event written on PostgreSQL = %+v, %v; want id %d", next, err, f.lastEvent+1)
	}
}

// TestCopyRefusesNonEmptyTarget: a second copy into the same database fails
// and changes nothing.
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		t.Skip("runs once, in the SQLite round (it uses both engines)")
	}
	target := pgtest.Schema(t)
	ctx := context.Background()
	f := seedCopyFixture(t)
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := Copy(ctx, f.path, target, string(schema))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Copy(ctx, f.path, target, string(schema))
	if !errors.Is(err, ErrTargetNotEmpty) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second copy = %v, want one line wrapping ErrTargetNotEmpty", err)
	}
	var messages int64
	if err := pgtest.Open(t, target).QueryRow(`SELECT count(*) FROM messages`).Scan(&messages); err != nil || messages != first.Rows("messages") {
		t.Errorf("after the refused copy the target has %d messages (%v), want %d", messages, err, first.Rows("messages"))
	}
}

// addQueued stores in as the debounce pipeline does: with its idempotency
// key (when key is set), in its conversation's batch, in one write.
func addQueued(ctx context.Context, ten *Tenant, in MessageInput, key, postbackURL string) (Stored, error) {
	var st Stored
	err := ten.Write(ctx, in.About(), func(tx *Tx) error {
		var err error
		if st, err = tx.AddMessage(in); err != nil {
			return err
		}
		if key != "" {
			if err := tx.RememberKey(key, st.Message.ID); err != nil {
				return err
			}
		}
		_, err = tx.AddToBatch(st, BatchInput{PostbackURL: postbackURL})
		return err
	})
	return st, err
}
