package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// -database-url runs the started server on PostgreSQL (PARLEY_DATABASE_URL).
// Each run gets a schema of its own, first on the URL's search_path, so that
// runs start from an empty database without the tool needing rights to
// create databases, and nothing of a run outlives it. (The lists scenario's
// seeded schema is the exception: like the SQLite file in /tmp it is kept
// for the next runs; see listsSchema.)

// pgSchema is a schema made for a run: its URL, and how to drop it.
type pgSchema struct {
	url, name string
	admin     *sql.DB
}

// newPGSchema creates a schema named name (a fresh parley_load_<random>
// when name is empty) in the server base names, with the extensions the
// server's migration wants created once in public: extensions are per
// database, and a DROP SCHEMA CASCADE of a schema holding them would take
// every other schema's trigram indexes with it. Creating them needs a
// privileged role; without it the server's migration takes its fallback.
func newPGSchema(ctx context.Context, base, name string, fresh bool) (*pgSchema, error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("-database-url: %w", err)
	}
	for _, ext := range []string{"pg_trgm", "unaccent"} {
		db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS `+ext+` WITH SCHEMA public`)
	}
	if name == "" {
		b := make([]byte, 6)
		rand.Read(b)
		name = "parley_load_" + hex.EncodeToString(b)
	}
	if fresh {
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`); err != nil {
			db.Close()
			return nil, err
		}
	}
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+name); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		db.Close()
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", name+",public")
	u.RawQuery = q.Encode()
	return &pgSchema{url: u.String(), name: name, admin: db}, nil
}

// exists tells whether the schema holds Parley's tables (a seeded lists
// schema from an earlier invocation).
func (s *pgSchema) exists(ctx context.Context) bool {
	var n int
	s.admin.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'messages'`,
		s.name).Scan(&n)
	return n > 0
}

// analyze gathers the planner's statistics of the schema's tables, as
// autovacuum would on a running server after a bulk load: without them the
// planner takes a 200,000-message table for a few hundred rows and picks
// plans no server would run for long (a bitmap AND with the tenant's whole
// primary key range: 10 of a 16 ms search). It runs table by table, so as
// not to analyse other schemas of the database.
func (s *pgSchema) analyze(ctx context.Context) error {
	rows, err := s.admin.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, s.name)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		if _, err := s.admin.ExecContext(ctx, `ANALYZE `+s.name+`.`+t); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}

// drop removes the schema and all in it.
func (s *pgSchema) drop() {
	if _, err := s.admin.Exec(`DROP SCHEMA IF EXISTS ` + s.name + ` CASCADE`); err != nil {
		fmt.Fprintf(os.Stderr, "load: drop schema %s: %v\n", s.name, err)
	}
	s.close()
}

func (s *pgSchema) close() { s.admin.Close() }

// listsSchema is the lists scenario's seeded schema on PostgreSQL, named by
// its size as the SQLite file is, kept after the tool ends so that a later
// invocation without -seed reads it again (DROP SCHEMA it when done).
func listsSchema(o options) string {
	return fmt.Sprintf("parley_load_lists_%d_%d", o.conversations, o.messages)
}
