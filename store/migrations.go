package store

import (
	"context"
	"database/sql"
	"fmt"
)

// steps carry a database from one schema version to the next: steps[0] takes
// version 1 to 2, and so on. schema.sql runs after them (every statement in it
// is IF NOT EXISTS), so a step only needs what schema.sql cannot express for
// an existing database: ALTER TABLE, backfills, dropped or changed indexes. A
// version whose change schema.sql covers alone has a nil step. Every version
// leaves a snapshot in testdata/schema_vN.sql for the migration test.
var steps = []func(ctx context.Context, tx *sql.Tx) error{}

// SchemaVersion is the version schema.sql describes.
func SchemaVersion() int { return len(steps) + 1 }

// migrate brings the database to SchemaVersion: a fresh one gets schema.sql,
// an older one runs each missing step in its own transaction, then schema.sql.
func migrate(ctx context.Context, db *sql.DB, schema string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if version > SchemaVersion() {
		return fmt.Errorf("store: database schema version %d is newer than this binary's %d", version, SchemaVersion())
	}
	if version == 0 {
		version = SchemaVersion() // fresh database: schema.sql is the whole story
	}
	for v := version; v < SchemaVersion(); v++ {
		step := steps[v-1]
		if err := inTx(ctx, db, func(tx *sql.Tx) error {
			if step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1))
			return err
		}); err != nil {
			return fmt.Errorf("store: migrate to version %d: %w", v+1, err)
		}
	}
	return inTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("store: apply schema: %w", err)
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
