package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// openForTest opens a fresh store in a temporary directory.
func openForTest(t *testing.T) *Store {
	t.Helper()
	return openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), Options{})
}

// openAtForTest opens the store at path with opts, closed with the test.
func openAtForTest(t *testing.T, path string, opts Options) *Store {
	t.Helper()
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
