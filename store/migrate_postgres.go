package store

// The PostgreSQL migration runner (issue 16, API.md §8 "Startup").
//
// PostgreSQL has its own ordered steps, numbered from 1 and unrelated to
// SQLite's versions: the two engines' schemas differ in types and keys, and
// a step that one engine needs (an FTS5 merge setting, a rowid backfill) means
// nothing to the other. Version 1 is schema_postgres.sql, the equivalent of
// SQLite's version 9; version 2 sets up search. Unlike SQLite's schema.sql,
// schema_postgres.sql is not re-run on every start: each step runs once, and
// later changes are new steps, so no statement needs IF NOT EXISTS and a
// migrated database needs no CREATE privilege at startup.
//
// The whole migration is one transaction (PostgreSQL's DDL is
// transactional): a failed or interrupted one leaves the database as it was.
// It starts by taking a transaction-scoped advisory lock, so that nodes
// starting together take turns: the first migrates, the others wait at the
// lock and then find the version current and do nothing. The lock goes with
// the transaction, so a node killed mid-migration releases it at once.
//
// Search is a step of its own because it depends on extensions: pg_trgm
// (trigram GIN indexes, for substring matches from an index, like SQLite's
// FTS5 trigram tables) and unaccent (accent folding). Creating an extension
// needs the CREATE privilege on the database (both are trusted extensions
// from PostgreSQL 13; superuser before). When they cannot be created the
// step still succeeds: parley_fold keeps its built-in accent map and no
// trigram index is built, and parley_schema.search says 'scan'. Searches
// then read every candidate row of the tenant (its conversation documents,
// or its messages) and fold and match each: linear in the tenant's rows,
// measured here at about 1 µs per message row, so a tenant with a million
// messages waits about a second per text search instead of milliseconds.
// Installing the extensions later does not build the indexes by itself
// (see pgSetUpSearch).

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"
)

//go:embed schema_postgres.sql
var schemaPostgres string

// pgMigrateLock is the advisory lock key of migrations ("parley" in ASCII).
// It is one key per database: two Parley installations in two schemas of
// one database take turns too, which costs nothing and keeps their
// extension creation (database-wide) from racing.
const pgMigrateLock int64 = 0x706172_6c6579

// Search modes recorded in parley_schema.search.
const (
	pgSearchTrigram = "trigram" // pg_trgm GIN indexes
	pgSearchScan    = "scan"    // no extension: searches scan the tenant's rows
)

// pgMessageSearchText is the expression that message search matches, and
// that version 2 indexes: a query must spell it exactly so for PostgreSQL
// to use the index. It is the body SQLite's messages_search holds.
const pgMessageSearchText = `parley_fold(content || ' ' || coalesce(extracted_text, ''))`

// pgStep takes a database from one version to the next, inside the
// migration transaction. pgSteps[0] makes version 1.
type pgStep struct {
	name string
	run  func(ctx context.Context, tx *sql.Tx, o pgMigrateOptions, m *pgMigration) error
}

var pgSteps = []pgStep{
	{"tables and indexes (SQLite's version 9)", pgApplySchema},  // 1
	{"search: trigram indexes, or a plain scan", pgSetUpSearch}, // 2
}

// pgSchemaVersion is the version this binary brings a database to.
func pgSchemaVersion() int { return len(pgSteps) }

// pgMigrateOptions tunes migratePostgres. The zero value is production's.
type pgMigrateOptions struct {
	// NoExtensions makes the search step act as if pg_trgm and unaccent
	// could not be created (for tests of the fallback).
	NoExtensions bool
	// afterLock, when set, runs once the advisory lock is held (tests).
	afterLock func()
}

// pgMigration reports what migratePostgres did: the version it found (0 for
// an empty database) and left, and the search mode.
type pgMigration struct {
	From, To int
	Search   string
}

// SchemaNewerError is returned when the database was migrated by a newer
// Parley: this one does not know its schema and must not write to it.
type SchemaNewerError struct {
	Database, Binary int
}

func (e *SchemaNewerError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this parley (%d); upgrade parley", e.Database, e.Binary)
}

// migratePostgres brings db to pgSchemaVersion under the migration lock.
func migratePostgres(ctx context.Context, db *sql.DB, o pgMigrateOptions) (pgMigration, error) {
	var m pgMigration
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		m = pgMigration{}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLock); err != nil {
			return fmt.Errorf("store: wait for the migration lock: %w", err)
		}
		if o.afterLock != nil {
			o.afterLock()
		}
		var err error
		if m.From, m.Search, err = pgReadVersion(ctx, tx); err != nil {
			return err
		}
		if m.From > pgSchemaVersion() {
			return &SchemaNewerError{Database: m.From, Binary: pgSchemaVersion()}
		}
		for v := m.From; v < len(pgSteps); v++ {
			if err := pgSteps[v].run(ctx, tx, o, &m); err != nil {
				return fmt.Errorf("store: migrate to version %d (%s): %w", v+1, pgSteps[v].name, err)
			}
		}
		m.To = pgSchemaVersion()
		if m.To == m.From {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO parley_schema (id, version, search, migrated_at) VALUES (1, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, search = excluded.search, migrated_at = excluded.migrated_at`,
			m.To, m.Search, time.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("store: record schema version: %w", err)
		}
		return nil
	})
	return m, err
}

// pgReadVersion reads the schema version and search mode, making the
// version table when the database has none (version 0). The table is looked
// up in the current schema only, where this migration creates its tables:
// a parley_schema elsewhere on the search_path belongs to someone else.
func pgReadVersion(ctx context.Context, tx *sql.Tx) (int, string, error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
WHERE schemaname = current_schema() AND tablename = 'parley_schema')`).Scan(&exists); err != nil {
		return 0, "", fmt.Errorf("store: read schema version: %w", err)
	}
	if !exists {
		_, err := tx.ExecContext(ctx, `CREATE TABLE parley_schema (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  version     INTEGER NOT NULL,
  search      TEXT NOT NULL,
  migrated_at BIGINT NOT NULL
)`)
		if err != nil {
			return 0, "", fmt.Errorf("store: create schema version table: %w", err)
		}
		return 0, pgSearchScan, nil
	}
	var version int
	var search string
	err := tx.QueryRowContext(ctx, `SELECT version, search FROM parley_schema WHERE id = 1`).Scan(&version, &search)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, pgSearchScan, nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("store: read schema version: %w", err)
	}
	return version, search, nil
}

func pgApplySchema(ctx context.Context, tx *sql.Tx, _ pgMigrateOptions, _ *pgMigration) error {
	_, err := tx.ExecContext(ctx, schemaPostgres)
	return err
}

// pgSetUpSearch is version 2: with unaccent, parley_fold folds with it (it
// knows more letters than the built-in map: ligatures, other scripts); with
// pg_trgm, trigram GIN indexes serve substring matches on message bodies
// and conversation documents. Either can be missing: search then works the
// same, from the built-in map or by a scan.
//
// A database migrated without pg_trgm keeps scanning after the extension is
// installed: building the indexes means reading every message, which is
// not for a startup to do unasked. An operator runs the two CREATE INDEX
// statements below (CONCURRENTLY, outside a transaction); queries are the
// same text either way, so the planner uses the indexes as soon as they
// exist (parley_schema.search is then only stale information).
func pgSetUpSearch(ctx context.Context, tx *sql.Tx, o pgMigrateOptions, m *pgMigration) error {
	m.Search = pgSearchScan
	if o.NoExtensions {
		return nil
	}
	unaccent, err := pgExtension(ctx, tx, "unaccent")
	if err != nil {
		return err
	}
	if unaccent != "" {
		schema := pgIdent(unaccent)
		dict := pgLiteral(schema + ".unaccent")
		// The dictionary is named with its schema so that the function's
		// result does not depend on the caller's search_path, which is what
		// lets it be IMMUTABLE, hence indexable, though unaccent() is not.
		if _, err := tx.ExecContext(ctx, `CREATE OR REPLACE FUNCTION parley_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$SELECT lower(`+schema+`.unaccent(`+dict+`::regdictionary, s))$$`); err != nil {
			return fmt.Errorf("fold with unaccent: %w", err)
		}
	}
	trgm, err := pgExtension(ctx, tx, "pg_trgm")
	if err != nil || trgm == "" {
		return err
	}
	ops := pgIdent(trgm) + ".gin_trgm_ops"
	for _, q := range []string{
		`CREATE INDEX messages_search ON messages USING gin (` + pgMessageSearchText + ` ` + ops + `)`,
		`CREATE INDEX conversation_search_trgm ON conversation_search USING gin (ident ` + ops + `, meta ` + ops + `)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("trigram index: %w", err)
		}
	}
	m.Search = pgSearchTrigram
	return nil
}

// pgExtension returns the schema of the named extension, creating it (in
// the current schema) when it is missing and this role may; "" when it is
// missing and cannot be created. Any other failure is an error. The attempt
// runs in a savepoint, so that a refusal leaves the migration usable.
func pgExtension(ctx context.Context, tx *sql.Tx, name string) (string, error) {
	find := func() (string, error) {
		var schema string
		err := tx.QueryRowContext(ctx, `SELECT n.nspname FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1`, name).Scan(&schema)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return schema, err
	}
	if schema, err := find(); schema != "" || err != nil {
		return schema, err
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT parley_extension`); err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS `+pgIdent(name)); err != nil {
		if !pgCannotCreateExtension(err) {
			return "", fmt.Errorf("create extension %s: %w", name, err)
		}
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT parley_extension`); rerr != nil {
			return "", rerr
		}
		return "", nil
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT parley_extension`); err != nil {
		return "", err
	}
	return find()
}

// pgCannotCreateExtension says whether err means the extension cannot be
// created here: no privilege (42501), or not installed on the server
// (58P01, undefined_file, for a missing control file; 0A000 for a server
// built without it). The driver's error exposes its SQLSTATE through
// SQLState(); matching on that method keeps this file free of pgx.
func pgCannotCreateExtension(err error) bool {
	var pe interface{ SQLState() string }
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.SQLState() {
	case "42501", "58P01", "0A000":
		return true
	}
	return false
}

// pgIdent quotes an SQL identifier.
func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// pgLiteral quotes an SQL string literal.
func pgLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
