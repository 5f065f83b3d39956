package store

// The PostgreSQL migration runner (issue 16, API.md §8 "Startup").
//
// PostgreSQL has its own ordered steps, numbered from 1 and unrelated to
// SQLite's versions: the two engines' schemas differ in types and keys, and
// a step that one engine needs (an FTS5 merge setting, a rowid backfill) means
// nothing to the other. Version 1 is parley_fold and schema_postgres.sql,
// the equivalent of SQLite's version 9; version 2 is the trigram indexes
// of search. Unlike SQLite's schema.sql,
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
// Search depends on two extensions, which need the CREATE privilege on the
// database to be created (both are trusted extensions from PostgreSQL 13;
// superuser before): unaccent for folding accents, and pg_trgm for trigram
// GIN indexes, which serve substring matches from an index as SQLite's FTS5
// trigram tables do. Neither is required. Folding (parley_fold) is made in
// version 1, before the tables, because messages.search_text is generated
// from it; it uses unaccent if it can, and built-in functions otherwise
// (pgFold). The trigram indexes are version 2, a step of its own: when
// pg_trgm cannot be created the step still succeeds, builds nothing, and
// parley_schema.search says 'scan'. Searches then read every candidate row
// of the tenant (its conversation documents, or its messages' search_text)
// and match each: linear in the tenant's rows. Measured here on 200,000
// messages of 100 characters: 40 ms a search by scan (0.2 µs a row, the
// folded text being stored), 8 ms with the trigram index; so a tenant with
// a million messages waits about 0.2 s per text search,
// and ten million, 2 s. Folding at search time instead would have cost
// 6 µs a row (normalize) to 43 µs (translate): hence the stored column.

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

// Folds recorded in parley_schema.fold (see pgFold).
const (
	pgFoldUnaccent  = "unaccent"
	pgFoldNormalize = "normalize"
	pgFoldTranslate = "translate"
)

// pgStep takes a database from one version to the next, inside the
// migration transaction. pgSteps[0] makes version 1.
type pgStep struct {
	name string
	run  func(ctx context.Context, tx *sql.Tx, o pgMigrateOptions, m *pgMigration) error
}

var pgSteps = []pgStep{
	{"tables and indexes (SQLite's version 9)", pgApplySchema},    // 1
	{"trigram search indexes, or a plain scan", pgTrigramIndexes}, // 2
}

// pgSchemaVersion is the version this binary brings a database to.
func pgSchemaVersion() int { return len(pgSteps) }

// pgMigrateOptions tunes migratePostgres. The zero value is production's.
type pgMigrateOptions struct {
	// NoExtensions makes the migration act as if pg_trgm and unaccent
	// could not be created (for tests of the fallback).
	NoExtensions bool
	// afterLock, when set, runs once the advisory lock is held (tests).
	afterLock func()
}

// pgMigration reports what migratePostgres did: the version it found (0 for
// an empty database) and left, the search mode and the fold.
type pgMigration struct {
	From, To     int
	Search, Fold string
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
		if m.From, m.Search, m.Fold, err = pgReadVersion(ctx, tx); err != nil {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO parley_schema (id, version, search, fold, migrated_at) VALUES (1, $1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, search = excluded.search, fold = excluded.fold,
  migrated_at = excluded.migrated_at`, m.To, m.Search, m.Fold, time.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("store: record schema version: %w", err)
		}
		return nil
	})
	return m, err
}

// pgReadVersion reads the schema version, search mode and fold, making the
// version table when the database has none (version 0). The table is
// looked up in the current schema only, where this migration creates its
// tables: a parley_schema elsewhere on the search_path is someone else's.
func pgReadVersion(ctx context.Context, tx *sql.Tx) (version int, search, fold string, err error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
WHERE schemaname = current_schema() AND tablename = 'parley_schema')`).Scan(&exists); err != nil {
		return 0, "", "", fmt.Errorf("store: read schema version: %w", err)
	}
	if !exists {
		_, err := tx.ExecContext(ctx, `CREATE TABLE parley_schema (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  version     INTEGER NOT NULL,
  search      TEXT NOT NULL, -- 'trigram' or 'scan'
  fold        TEXT NOT NULL, -- parley_fold's body: 'unaccent', 'normalize' or 'translate'
  migrated_at BIGINT NOT NULL
)`)
		if err != nil {
			return 0, "", "", fmt.Errorf("store: create schema version table: %w", err)
		}
		return 0, "", "", nil
	}
	err = tx.QueryRowContext(ctx, `SELECT version, search, fold FROM parley_schema WHERE id = 1`).Scan(&version, &search, &fold)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", "", nil
	}
	if err != nil {
		return 0, "", "", fmt.Errorf("store: read schema version: %w", err)
	}
	return version, search, fold, nil
}

// pgApplySchema is version 1: parley_fold, then schema_postgres.sql.
func pgApplySchema(ctx context.Context, tx *sql.Tx, o pgMigrateOptions, m *pgMigration) error {
	body, fold, err := pgFold(ctx, tx, o)
	if err != nil {
		return err
	}
	// IMMUTABLE so that a generated column and indexes may use it: true of
	// the built-in bodies (lower() depends only on the database's fixed
	// LC_CTYPE), and of unaccent's once its dictionary is named with its
	// schema, so the caller's search_path does not matter. Changing the
	// body later means recomputing search_text and reindexing.
	if _, err := tx.ExecContext(ctx, `CREATE FUNCTION parley_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$SELECT `+body+`$$`); err != nil {
		return fmt.Errorf("create parley_fold (%s): %w", fold, err)
	}
	m.Fold = fold
	_, err = tx.ExecContext(ctx, schemaPostgres)
	return err
}

// pgFoldMap is the built-in fold of the oldest servers: the accented
// letters of Latin-1 and Latin Extended-A mapped to their base letters.
// translate() looks each character up in this list, which made it the
// slowest body by far (43 µs for a 100-character row).
const pgFoldMap = `lower(translate(s,
  'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽž',
  'aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzz'))`

// pgFoldNFD removes combining marks after canonical decomposition, as
// SQLite's remove_diacritics does, for any script (PostgreSQL 13 and a
// UTF8 database, for normalize()): 6 µs a 100-character row. parley_fold on
// SQLite (fold.go) computes the same (TestFoldMatchesPostgres compares them).
const pgFoldNFD = `lower(regexp_replace(normalize(s, NFD), '[\u0300-\u036f]', '', 'g'))`

// pgFold picks parley_fold's body, fastest first: unaccent (1.7 µs a
// 100-character row here; it also folds ligatures such as æ and ß, which
// SQLite leaves), normalize and a regular expression, or a fixed map.
func pgFold(ctx context.Context, tx *sql.Tx, o pgMigrateOptions) (body, fold string, err error) {
	if !o.NoExtensions {
		schema, err := pgExtension(ctx, tx, "unaccent")
		if err != nil {
			return "", "", err
		}
		if schema != "" {
			q := pgIdent(schema)
			return `lower(` + q + `.unaccent(` + pgLiteral(q+".unaccent") + `::regdictionary, s))`, pgFoldUnaccent, nil
		}
	}
	var nfd bool
	if err := tx.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int >= 130000
AND current_setting('server_encoding') = 'UTF8'`).Scan(&nfd); err != nil {
		return "", "", err
	}
	if nfd {
		return pgFoldNFD, pgFoldNormalize, nil
	}
	return pgFoldMap, pgFoldTranslate, nil
}

// pgTrigramIndexes is version 2: with pg_trgm, trigram GIN indexes serve
// substring matches (LIKE '%…%') on message search_text and conversation
// documents. Without it, nothing: search works the same, by a scan.
//
// A database migrated without pg_trgm keeps scanning after the extension is
// installed: building the indexes means reading every message, which is
// not for a startup to do unasked. An operator runs the two CREATE INDEX
// statements below (CONCURRENTLY, outside a transaction); queries are the
// same text either way, so the planner uses the indexes as soon as they
// exist (parley_schema.search is then only stale information).
func pgTrigramIndexes(ctx context.Context, tx *sql.Tx, o pgMigrateOptions, m *pgMigration) error {
	m.Search = pgSearchScan
	if o.NoExtensions {
		return nil
	}
	trgm, err := pgExtension(ctx, tx, "pg_trgm")
	if err != nil || trgm == "" {
		return err
	}
	// A GIN index adds new entries to a pending list and merges it into
	// the index when it outgrows gin_pending_list_limit: the default, 4 MB,
	// made an unlucky write now and then wait ~100 ms for the merge (the
	// send benchmark's p99). Without the list (fastupdate = off) each
	// message paid 0.2 ms for its ~100 trigram entries; a 256 kB list costs
	// 0.06 ms a row here and merges in a few milliseconds.
	ops := pgIdent(trgm) + ".gin_trgm_ops"
	for _, q := range []string{
		`CREATE INDEX messages_search ON messages USING gin (search_text ` + ops + `) WITH (gin_pending_list_limit = 256)`,
		`CREATE INDEX conversation_search_trgm ON conversation_search USING gin (ident ` + ops + `, meta ` + ops + `) WITH (gin_pending_list_limit = 256)`,
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
