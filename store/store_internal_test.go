package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// openForTest opens a fresh store: SQLite in a temporary directory, or a
// PostgreSQL schema of its own in the PostgreSQL round (main_test.go).
func openForTest(t *testing.T) *Store {
	t.Helper()
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		s, err := Open(context.Background(), pgtest.Schema(t), "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), Options{})
}

// openWithOptionsForTest is openForTest with opts (a clock, say).
func openWithOptionsForTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		s, err := Open(context.Background(), pgtest.Schema(t), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), opts)
}

// openSQLiteForTest opens a fresh SQLite store: for tests of SQLite itself
// (checkpoints, pragmas, query plans), which the PostgreSQL round skips.
func openSQLiteForTest(t *testing.T) *Store {
	t.Helper()
	return openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), Options{})
}

// openAtForTest opens a SQLite store at path with opts, closed with the
// test. Tests that use it look at SQLite itself; the PostgreSQL round skips
// them.
func openAtForTest(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		t.Skip("SQLite only")
	}
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path, string(schema), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tenantForTest creates tenant "acme" in s.
func tenantForTest(t *testing.T, s *Store) *Tenant {
	t.Helper()
	info, _, err := s.CreateTenant(context.Background(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	return s.Tenant(info.ID)
}

// rebindFor is q as s's engine reads it: tests that run raw statements on
// s.w or s.r write them once, in SQLite's form.
func (s *Store) rebindFor(q string) string {
	if s.eng == enginePostgres {
		return rebind(q)
	}
	return q
}
