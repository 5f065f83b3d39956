package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestConnectionPragmas: readers are read-only and read through a memory
// map; the writer and the checkpointer write with pwrite and map nothing.
func TestConnectionPragmas(t *testing.T) {
	checkPragmas(t, openForTest(t), DefaultReadMap)
	schema, err := os.ReadFile(filepath.Join("..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	unmapped, err := Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"), string(schema), Options{ReadMap: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer unmapped.Close()
	checkPragmas(t, unmapped, 0)
}

func checkPragmas(t *testing.T, s *Store, readMap int64) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		name          string
		read          func(q string, dest any) error
		mmap, queryOn int64
	}{
		{"reader", func(q string, dest any) error { return s.r.QueryRowContext(ctx, q).Scan(dest) }, readMap, 1},
		{"writer", func(q string, dest any) error { return s.w.QueryRowContext(ctx, q).Scan(dest) }, 0, 0},
		{"checkpointer", func(q string, dest any) error { return s.ck.QueryRowContext(ctx, q).Scan(dest) }, 0, 0},
	} {
		var mmap, queryOnly int64
		if err := c.read("PRAGMA mmap_size", &mmap); err != nil {
			t.Fatal(err)
		}
		if err := c.read("PRAGMA query_only", &queryOnly); err != nil {
			t.Fatal(err)
		}
		if mmap != c.mmap || queryOnly != c.queryOn {
			t.Errorf("%s: mmap_size %d, query_only %d; want %d, %d", c.name, mmap, queryOnly, c.mmap, c.queryOn)
		}
	}
}
