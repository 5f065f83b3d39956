package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestMigrateRunsEachStepOnce: processes that open an old database at the
// same moment (a server and a CLI command, say) all read the old version;
// the first migrates, the others must find the work done rather than run
// the steps again (an ALTER TABLE run twice fails: "duplicate column").
func TestMigrateRunsEachStepOnce(t *testing.T) {
	saved := steps
	t.Cleanup(func() { steps = saved })
	var runs atomic.Int32
	steps = []step{{before: func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.ExecContext(ctx, `ALTER TABLE things ADD COLUMN b TEXT NOT NULL DEFAULT ''`)
		return err
	}}}
	const schema = `CREATE TABLE IF NOT EXISTS things (a TEXT, b TEXT NOT NULL DEFAULT '');`

	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", dsn(path, false, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	conn, err := old.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE things (a TEXT)`, `INSERT INTO things (a) VALUES ('kept')`,
		`PRAGMA user_version = 1`, `BEGIN IMMEDIATE`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const n = 3
	errs := make(chan error, n)
	for range n {
		go func() {
			db, err := sql.Open("sqlite", dsn(path, false, 0))
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			errs <- migrate(ctx, db, schema)
		}()
	}
	time.Sleep(500 * time.Millisecond) // each has read version 1 and waits for the write lock
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent migrate: %v", err)
		}
	}
	if got := runs.Load(); got != 1 {
		t.Errorf("the step ran %d times, want once", got)
	}
	var v int
	var a, b string
	if err := old.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 2 {
		t.Errorf("user_version = %d (%v), want 2", v, err)
	}
	if err := old.QueryRow(`SELECT a, b FROM things`).Scan(&a, &b); err != nil || a != "kept" {
		t.Errorf("row after migration = %q %q (%v)", a, b, err)
	}
}
