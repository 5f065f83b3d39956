package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// pgFresh opens a fresh schema of its own.
func pgFresh(t *testing.T) *sql.DB {
	t.Helper()
	return pgtest.Open(t, pgtest.Schema(t))
}

func pgMigrate(t *testing.T, db *sql.DB, o pgMigrateOptions) pgMigration {
	t.Helper()
	m, err := migratePostgres(context.Background(), db, o)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return m
}

// pgHasExtension says whether the database has the extension installed.
func pgHasExtension(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_extension WHERE extname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// pgSnapshot describes the current schema: its columns, indexes and the
// fold function, one line each, sorted.
func pgSnapshot(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
  FROM information_schema.columns WHERE table_schema = current_schema()
UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
UNION ALL SELECT 'version ' || version || ' ' || search FROM parley_schema
ORDER BY 1`)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func pgIndexes(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[s] = true
	}
	return out
}

func TestPostgresMigrateEmpty(t *testing.T) {
	db := pgFresh(t)
	m := pgMigrate(t, db, pgMigrateOptions{})
	want := pgMigration{From: 0, To: pgSchemaVersion(), Search: pgSearchScan, Fold: pgFoldNormalize}
	if pgHasExtension(t, db, "pg_trgm") {
		want.Search = pgSearchTrigram
	}
	if pgHasExtension(t, db, "unaccent") {
		want.Fold = pgFoldUnaccent
	}
	if m != want {
		t.Fatalf("migration = %+v, want %+v", m, want)
	}
	ix := pgIndexes(t, db)
	for _, name := range []string{"conversations_active_thread", "deliveries_heads", "events_pkey", "leads_phone"} {
		if !ix[name] {
			t.Errorf("index %s missing", name)
		}
	}
	if m.Search == pgSearchTrigram {
		for _, name := range []string{"messages_search", "conversation_search_trgm"} {
			if !ix[name] {
				t.Errorf("index %s missing", name)
			}
		}
		pgExpectIndexUsed(t, db)
	}
	var folded string
	if err := db.QueryRow(`SELECT parley_fold('Ação ÉLODIE Ÿ')`).Scan(&folded); err != nil || folded != "acao elodie y" {
		t.Errorf("parley_fold = %q, %v; want %q", folded, err, "acao elodie y")
	}
}

// pgExpectIndexUsed checks that a message search spelled with
// search_text is served by the trigram index.
func pgExpectIndexUsed(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `RESET enable_seqscan`)
	rows, err := conn.QueryContext(ctx, `EXPLAIN SELECT id FROM messages WHERE search_text LIKE '%' || parley_fold($1) || '%'`, "Ação")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "messages_search") {
		t.Errorf("message search does not use the trigram index:\n%s", strings.Join(plan, "\n"))
	}
}

func TestPostgresMigrateTwice(t *testing.T) {
	db := pgFresh(t)
	first := pgMigrate(t, db, pgMigrateOptions{})
	before := pgSnapshot(t, db)
	second := pgMigrate(t, db, pgMigrateOptions{})
	if second.From != pgSchemaVersion() || second.To != pgSchemaVersion() || second.Search != first.Search || second.Fold != first.Fold {
		t.Errorf("second migration = %+v, want nothing done after %+v", second, first)
	}
	if after := pgSnapshot(t, db); !reflect.DeepEqual(before, after) {
		t.Errorf("the second migration changed the schema:\nbefore %q\nafter  %q", before, after)
	}
}

// TestPostgresMigrateConcurrent starts two migrators at once: the one that
// gets the lock holds it until the other is seen waiting for it, then both
// finish, and the schema was applied once.
func TestPostgresMigrateConcurrent(t *testing.T) {
	u := pgtest.Schema(t)
	admin := pgtest.Admin(t)
	var first atomic.Bool
	o := pgMigrateOptions{afterLock: func() {
		if !first.CompareAndSwap(false, true) {
			return
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var waiting int
			if err := admin.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
AND objid::bigint = $1::bigint & 4294967295`, pgMigrateLock).Scan(&waiting); err != nil {
				t.Error(err)
				return
			}
			if waiting > 0 {
				return
			}
		}
		t.Error("the second migrator never waited for the lock")
	}}
	var wg sync.WaitGroup
	results := make([]pgMigration, 2)
	errs := make([]error, 2)
	for i := range results {
		db := pgtest.Open(t, u)
		wg.Go(func() { results[i], errs[i] = migratePostgres(context.Background(), db, o) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	froms := []int{results[0].From, results[1].From}
	if !reflect.DeepEqual(froms, []int{0, pgSchemaVersion()}) && !reflect.DeepEqual(froms, []int{pgSchemaVersion(), 0}) {
		t.Errorf("migrations = %+v, want one from 0 and one finding version %d", results, pgSchemaVersion())
	}
}

func TestPostgresMigrateNewerRefused(t *testing.T) {
	db := pgFresh(t)
	pgMigrate(t, db, pgMigrateOptions{})
	newer := pgSchemaVersion() + 7
	if _, err := db.Exec(`UPDATE parley_schema SET version = $1`, newer); err != nil {
		t.Fatal(err)
	}
	before := pgSnapshot(t, db)
	_, err := migratePostgres(context.Background(), db, pgMigrateOptions{})
	want := fmt.Sprintf("database schema version %d is newer than this parley (%d); upgrade parley", newer, pgSchemaVersion())
	var ne *SchemaNewerError
	if err == nil || err.Error() != want || !errors.As(err, &ne) {
		t.Fatalf("migrate = %v, want %q", err, want)
	}
	if after := pgSnapshot(t, db); !reflect.DeepEqual(before, after) {
		t.Error("a refused migration changed the schema")
	}
}

// TestPostgresMigrateWithoutExtensions applies the schema where pg_trgm and
// unaccent cannot be created: search falls back to a scan, with the
// built-in accent map.
func TestPostgresMigrateWithoutExtensions(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *sql.DB
		o    pgMigrateOptions
	}{
		{"flag", pgFresh, pgMigrateOptions{NoExtensions: true}},
		{"role without CREATE on the database", pgUnprivileged, pgMigrateOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.open(t)
			m := pgMigrate(t, db, tc.o)
			if want := (pgMigration{From: 0, To: pgSchemaVersion(), Search: pgSearchScan, Fold: pgFoldNormalize}); m != want {
				t.Errorf("migration = %+v, want %+v", m, want)
			}
			ix := pgIndexes(t, db)
			if ix["messages_search"] || ix["conversation_search_trgm"] || !ix["messages_by_conversation"] {
				t.Errorf("indexes = %v, want the tables' without the trigram ones", ix)
			}
			if _, err := db.Exec(`INSERT INTO tenants (id, name, postback_secret, created_at) VALUES ('t', 't', 's', 0);
INSERT INTO messages (tenant_id, id, conversation_id, lead_id, role, content, status, created_at)
VALUES ('t', 'm', 'c', 'l', 'user', 'Quero uma cotação', 'received', 0)`); err != nil {
				t.Fatal(err)
			}
			var id string
			if err := db.QueryRow(`SELECT id FROM messages WHERE tenant_id = 't' AND search_text LIKE '%' || parley_fold($1) || '%'`, "COTACAO").Scan(&id); err != nil || id != "m" {
				t.Errorf("scan search = %q, %v; want m", id, err)
			}
			if m := pgMigrate(t, db, tc.o); m.From != pgSchemaVersion() {
				t.Errorf("second migration = %+v, want nothing done", m)
			}
		})
	}
}

// pgUnprivileged opens a fresh database as a role that owns its schema but
// lacks CREATE on the database, so it cannot create extensions (a fresh
// database has none).
func pgUnprivileged(t *testing.T) *sql.DB {
	admin := pgtest.Admin(t)
	role := fmt.Sprintf("parley_noext_%d", time.Now().UnixNano())
	if _, err := admin.Exec(`CREATE ROLE ` + role + ` LOGIN`); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP ROLE ` + role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u := pgtest.Database(t) // dropped before the role (cleanups run last first)
	owner := pgtest.Open(t, u)
	if _, err := owner.Exec(`CREATE SCHEMA app AUTHORIZATION ` + role); err != nil {
		t.Fatal(err)
	}
	owner.Close()
	p, err := url.Parse(pgtest.WithParam(t, u, "search_path", "app"))
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.User(role)
	db := pgtest.Open(t, p.String())
	var create bool
	if err := db.QueryRow(`SELECT has_database_privilege(current_database(), 'CREATE')`).Scan(&create); err != nil || create {
		t.Fatalf("role %s may create in the database (%v): the test needs one that may not", role, err)
	}
	return db
}

// TestPostgresSchemaMatchesSQLite checks schema_postgres.sql against
// schema.sql table by table: the same columns (bar the documented
// differences), every SQLite index under the same name, and times as BIGINT.
func TestPostgresSchemaMatchesSQLite(t *testing.T) {
	db := pgFresh(t)
	pgMigrate(t, db, pgMigrateOptions{})
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	lite, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "schema.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := lite.Exec(string(schema)); err != nil {
		t.Fatal(err)
	}
	// The SQLite-only parts: rowid keys and the FTS5 machinery, which
	// conversation_search (a table here) and an expression index replace.
	sqliteOnly := map[string]bool{"conversations.pk": true, "messages.pk": true, "search_state": true, "messages_search": true}
	pgOnly := map[string]bool{"deliveries.pos": true, "messages.search_text": true, "conversation_search.tenant_id": true,
		"conversation_search.conversation_id": true, "parley_schema": true}

	columns := func(db *sql.DB, q string) map[string][]string {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]string{}
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				t.Fatal(err)
			}
			if sqliteOnly[table] || pgOnly[table] || sqliteOnly[table+"."+col] || pgOnly[table+"."+col] {
				continue
			}
			out[table] = append(out[table], col)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	liteCols := columns(lite, `SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
WHERE m.type = 'table' AND m.name NOT LIKE '%search\_%' ESCAPE '\' ORDER BY m.name, c.name`)
	pgCols := columns(db, `SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() ORDER BY table_name, column_name COLLATE "C"`)
	if !reflect.DeepEqual(liteCols, pgCols) {
		t.Errorf("columns differ:\nsqlite   %v\npostgres %v", liteCols, pgCols)
	}

	rows, err := lite.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	pgIx := pgIndexes(t, db)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !pgIx[name] {
			t.Errorf("index %s is not in the PostgreSQL schema", name)
		}
	}

	var wrong string
	if err := db.QueryRow(`SELECT coalesce(string_agg(table_name || '.' || column_name || ' ' || data_type, ', '), '')
FROM information_schema.columns WHERE table_schema = current_schema()
AND (column_name LIKE '%\_at' OR column_name IN ('deadline', 'seq', 'last_event_seq', 'events_pruned_through'))
AND data_type <> 'bigint'`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != "" {
		t.Errorf("times and event ids not BIGINT: %s", wrong)
	}
}

// TestPostgresFold checks each of parley_fold's bodies.
func TestPostgresFold(t *testing.T) {
	db := pgFresh(t)
	unaccent := "public"
	if !pgHasExtension(t, db, "unaccent") {
		unaccent = ""
	}
	for _, tc := range []struct {
		name, body string
	}{
		{"map", pgFoldMap},
		{"nfd", pgFoldNFD},
		{"unaccent", `lower(public.unaccent('public.unaccent'::regdictionary, s))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unaccent" && unaccent == "" {
				t.Skip("unaccent is not installed")
			}
			fn := "fold_" + tc.name
			if _, err := db.Exec(`CREATE FUNCTION ` + fn + `(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT ` + tc.body + `$$`); err != nil {
				t.Fatal(err)
			}
			for in, want := range map[string]string{
				"Ação ÉLODIE Ÿ": "acao elodie y", "Crème BRÛLÉE": "creme brulee", "plain 42": "plain 42", "": "",
			} {
				var got string
				if err := db.QueryRow(`SELECT `+fn+`($1)`, in).Scan(&got); err != nil || got != want {
					t.Errorf("%s(%q) = %q, %v; want %q", fn, in, got, err, want)
				}
			}
		})
	}
}
