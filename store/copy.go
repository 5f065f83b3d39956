package store

// Moving a SQLite database to PostgreSQL (`parley copy`, API.md §7).
//
// The copy reads the SQLite file in one read transaction: a WAL snapshot, so
// a server may keep writing to the file meanwhile (what it writes after the
// snapshot is not copied). It writes PostgreSQL in one transaction, so a
// failed copy leaves the target as it found it (bar the schema, which the
// migration commits first: an empty migrated database is still empty).
//
// Rows keep every id and secret: tenants keep last_event_seq and
// events_pruned_through, so the next event written on PostgreSQL follows
// the last one written on SQLite and a client's Last-Event-ID keeps working.
// What PostgreSQL's schema adds is made here: conversation_search by the
// same statement the store writes it with, messages.search_text by the
// database (a generated column), and deliveries.pos by inserting the outbox
// in SQLite's rowid order, which is its queue order.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyTable is a table copied as is: its columns, named alike on both
// engines, each with its kind (see copyValue), in an order that satisfies
// PostgreSQL's foreign keys (tenants first).
type copyTable struct {
	name    string
	columns string // "col" for text, "col:k" for another kind
	order   string // ORDER BY of the SQLite read, when the order matters
}

// copyTables lists every table that holds rows (not SQLite's search tables
// and search_state, which PostgreSQL does without). Kinds: i integer, f
// real, b a SQLite 0/1 flag that is BOOLEAN on PostgreSQL, x bytes.
var copyTables = []copyTable{
	{name: "tenants", columns: "id name postback_secret last_event_seq:i events_pruned_through:i created_at:i"},
	{name: "api_keys", columns: "id tenant_id name key_hash:x prefix created_at:i revoked_at:i"},
	{name: "assistants", columns: "tenant_id id name description presentation system_prompt model temperature:f " +
		"history_limit:i debounce_seconds:f debounce_max_wait_seconds:f pause_on_human:b is_default:b created_at:i updated_at:i"},
	{name: "channels", columns: "tenant_id id name type assistant_id created_at:i updated_at:i is_default:b"},
	{name: "leads", columns: "tenant_id id name phone email company meta created_at:i updated_at:i"},
	{name: "conversations", columns: "tenant_id id lead_id channel_id assistant_id thread_key status is_ai_active:b " +
		"unread_count:i meta survey:i survey_comment last_message_content last_message_role last_message_at:i created_at:i updated_at:i"},
	{name: "messages", columns: "tenant_id id conversation_id lead_id channel_id role content message_type url extracted_text " +
		"status feedback feedback_comment external_id created_at:i"},
	{name: "events", columns: "tenant_id seq:i type conversation_id lead_id channel_id payload created_at:i"},
	{name: "idempotency", columns: "tenant_id key message_id status_code:i response created_at:i"},
	{name: "batches", columns: "tenant_id conversation_id lead_id channel_id message_ids version:i postback_url first_at:i deadline:i"},
	{name: "webhooks", columns: "tenant_id id url events active:b secret created_at:i updated_at:i"},
	// pos is drawn as rows arrive, so the rowid order becomes pos order:
	// each order key's queue, and its head, stay as they were.
	{name: "deliveries", columns: "tenant_id id kind webhook_id url destination event payload status attempts:i " +
		"last_status_code:i last_error next_attempt_at:i created_at:i delivered_at:i order_key head:b", order: "rowid"},
}

// TableCount is how many rows of a table a copy wrote.
type TableCount struct {
	Table string
	Rows  int64
}

// CopyCounts are a copy's rows per table, in copy order.
type CopyCounts []TableCount

// Rows returns the count of table (0 when it is not one of the copy's).
func (c CopyCounts) Rows(table string) int64 {
	for _, tc := range c {
		if tc.Table == table {
			return tc.Rows
		}
	}
	return 0
}

// Total is the number of rows copied.
func (c CopyCounts) Total() int64 {
	var n int64
	for _, tc := range c {
		n += tc.Rows
	}
	return n
}

// MarshalJSON writes one object, {"tenants":1,"api_keys":2,…}, in copy
// order (a map would be sorted by name, parents after children).
func (c CopyCounts) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, tc := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%d", tc.Table, tc.Rows)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ErrTargetNotEmpty refuses a copy into a database that already has tenants.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// Copy copies every row of the SQLite database at from into the PostgreSQL
// database at to, migrating it first when it has no schema yet; the target
// must have no tenants (ErrTargetNotEmpty). schema is SQLite's schema.sql:
// a source made by an older Parley is migrated first, as any command that
// opens it would. It returns the rows copied per table.
func Copy(ctx context.Context, from, to, schema string) (CopyCounts, error) {
	if !IsPostgresURL(to) {
		return nil, fmt.Errorf("store: copy: the target must be a postgres:// URL")
	}
	if _, err := os.Stat(from); err != nil { // opening would create it
		return nil, fmt.Errorf("store: copy: database %s: %w", from, errors.Unwrap(err))
	}
	src, err := openCopySource(ctx, from, schema)
	if err != nil {
		return nil, err
	}
	defer src.Close()

	mdb, err := sql.Open("pgx", to)
	if err != nil {
		return nil, fmt.Errorf("store: copy: open PostgreSQL: %w", err)
	}
	_, err = migratePostgres(ctx, mdb, pgMigrateOptions{})
	mdb.Close()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("store: copy: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	counts, err := copyRows(ctx, src, conn)
	if err != nil {
		return nil, err
	}
	// Fresh tables have no statistics and no visibility map until
	// autovacuum comes by: the first server's queries would be planned
	// blind, and counting a tenant's conversations would read every row
	// instead of the index alone (230 ms instead of 10 at 100,000). Best
	// effort: the rows are committed, and autovacuum will do it anyway.
	for _, t := range copyTables {
		conn.Exec(ctx, `VACUUM (ANALYZE) `+pgx.Identifier{t.name}.Sanitize())
	}
	conn.Exec(ctx, `VACUUM (ANALYZE) conversation_search`)
	return counts, nil
}

// openCopySource opens the SQLite file for reading only, after migrating it
// to this binary's version when it is older.
func openCopySource(ctx context.Context, path, schema string) (*sql.DB, error) {
	open := func() (*sql.DB, int, error) {
		db, err := sql.Open("sqlite", dsn(path, true, 0))
		if err != nil {
			return nil, 0, fmt.Errorf("store: copy: open %s: %w", path, err)
		}
		db.SetMaxOpenConns(1)
		var version int
		if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
			db.Close()
			return nil, 0, fmt.Errorf("store: copy: read %s: %w", path, err)
		}
		return db, version, nil
	}
	db, version, err := open()
	if err != nil || version == SchemaVersion() {
		return db, err
	}
	db.Close()
	switch {
	case version == 0:
		return nil, fmt.Errorf("store: copy: %s is not a Parley database", path)
	case version > SchemaVersion():
		return nil, fmt.Errorf("store: copy: %s has schema version %d, newer than this parley's %d; upgrade parley", path, version, SchemaVersion())
	}
	st, err := Open(ctx, path, schema, Options{Readers: 1})
	if err != nil {
		return nil, fmt.Errorf("store: copy: migrate %s: %w", path, err)
	}
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("store: copy: migrate %s: %w", path, err)
	}
	db, _, err = open()
	return db, err
}

// copyRows copies every table inside one PostgreSQL transaction, reading
// the source inside one SQLite read transaction (one snapshot).
func copyRows(ctx context.Context, src *sql.DB, conn *pgx.Conn) (CopyCounts, error) {
	stx, err := src.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: copy: read the source: %w", err)
	}
	defer stx.Rollback()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: copy: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Another copy, or a server bootstrapping its first tenant, waits here
	// until this copy ends, and then finds the target not empty.
	if _, err := tx.Exec(ctx, `LOCK TABLE tenants IN EXCLUSIVE MODE`); err != nil {
		return nil, fmt.Errorf("store: copy: lock the target: %w", err)
	}
	var tenants int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&tenants); err != nil {
		return nil, fmt.Errorf("store: copy: read the target: %w", err)
	}
	if tenants > 0 {
		return nil, fmt.Errorf("store: copy: %w (%d tenants); copy only into a new database", ErrTargetNotEmpty, tenants)
	}
	counts := make(CopyCounts, 0, len(copyTables))
	for _, t := range copyTables {
		n, err := copyTableRows(ctx, stx, tx, t)
		if err != nil {
			return nil, fmt.Errorf("store: copy %s: %w", t.name, err)
		}
		counts = append(counts, TableCount{Table: t.name, Rows: n})
	}
	q := indexSQL[enginePostgres]
	if _, err := tx.Exec(ctx, q.head+`TRUE`+q.tail); err != nil {
		return nil, fmt.Errorf("store: copy: index conversations for search: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: copy: commit: %w", err)
	}
	return counts, nil
}

// copyTableRows streams one table from SQLite into PostgreSQL's COPY.
func copyTableRows(ctx context.Context, stx *sql.Tx, tx pgx.Tx, t copyTable) (int64, error) {
	fields := strings.Fields(t.columns)
	names, kinds := make([]string, len(fields)), make([]byte, len(fields))
	for i, f := range fields {
		name, kind, _ := strings.Cut(f, ":")
		names[i], kinds[i] = name, 't'
		if kind != "" {
			kinds[i] = kind[0]
		}
	}
	q := `SELECT ` + strings.Join(names, ", ") + ` FROM ` + t.name
	if t.order != "" {
		q += ` ORDER BY ` + t.order
	}
	rows, err := stx.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	s := &copySource{rows: rows, kinds: kinds, names: names, vals: make([]any, len(names)), ptrs: make([]any, len(names))}
	for i := range s.vals {
		s.ptrs[i] = &s.vals[i]
	}
	return tx.CopyFrom(ctx, pgx.Identifier{t.name}, names, s)
}

// copySource is a pgx.CopyFromSource over a SQLite result.
type copySource struct {
	rows       *sql.Rows
	kinds      []byte
	names      []string
	vals, ptrs []any
	err        error
}

func (s *copySource) Next() bool { return s.err == nil && s.rows.Next() }

func (s *copySource) Values() ([]any, error) {
	if err := s.rows.Scan(s.ptrs...); err != nil {
		s.err = err
		return nil, err
	}
	out := make([]any, len(s.vals))
	for i, v := range s.vals {
		c, err := copyValue(s.kinds[i], v)
		if err != nil {
			s.err = fmt.Errorf("column %s: %w", s.names[i], err)
			return nil, s.err
		}
		out[i] = c
	}
	return out, nil
}

func (s *copySource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// copyValue turns a SQLite value into what PostgreSQL's column of that kind
// takes. SQLite's column affinities already coerce what they can (an
// integer written to a REAL column reads back as a float), so the cases
// here are the representation changes (flags, bytes) and what a column
// without that coercion could hold.
func copyValue(kind byte, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case 't':
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case 'i':
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
		}
	case 'f':
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case 'b':
		if x, ok := v.(int64); ok {
			return x != 0, nil
		}
	case 'x':
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected value %T %v", v, v)
}
