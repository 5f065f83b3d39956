// Package storetest opens real stores for tests in other packages: a fresh
// SQLite file in t.TempDir() with the repository's schema.sql and a tenant.
package storetest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/parley-dev/parley/store"
)

// Schema returns the repository's schema.sql, located from this source file
// so that tests in any package find it.
func Schema(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "schema.sql"))
	if err != nil {
		t.Fatalf("storetest: read schema.sql: %v", err)
	}
	return string(b)
}

// Open opens a store at path (made by the caller, e.g. in t.TempDir()) and
// closes it when the test ends.
func Open(t testing.TB, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, Schema(t), store.Options{})
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Target is a fresh database for a store or a server to open: a SQLite
// file in a temporary directory, or a PostgreSQL schema of its own in the
// PostgreSQL round.
func Target(t testing.TB) string {
	t.Helper()
	if Engine() == "postgres" {
		return Postgres(t)
	}
	return filepath.Join(t.TempDir(), "parley.db")
}

// New opens a fresh store: SQLite in a temporary directory, or, when the
// test binary runs its PostgreSQL round (PARLEY_TEST_ENGINE=postgres; see
// RunEngines), a PostgreSQL schema of its own.
func New(t testing.TB) *store.Store {
	t.Helper()
	if Engine() == "postgres" {
		return Open(t, Postgres(t))
	}
	return Open(t, filepath.Join(t.TempDir(), "parley.db"))
}

// Tenant creates a tenant (with its default assistant) and returns its handle
// and API key.
func Tenant(t testing.TB, st *store.Store, name string) (*store.Tenant, string) {
	t.Helper()
	info, key, err := st.CreateTenant(context.Background(), name, "")
	if err != nil {
		t.Fatalf("storetest: create tenant: %v", err)
	}
	return st.Tenant(info.ID), key
}
