package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestConnectionPragmas: readers are read-only and read through a memory
// map when asked to (none by default, capped at SQLite's 2 GB); the writer
// and the checkpointer write with pwrite and map nothing.
func TestConnectionPragmas(t *testing.T) {
	checkPragmas(t, openSQLiteForTest(t), 0)
	for _, c := range []struct{ asked, want int64 }{{64 << 20, 64 << 20}, {4 << 30, MaxReadMap}} {
		checkPragmas(t, openAtForTest(t, filepath.Join(t.TempDir(), "parley.db"), Options{ReadMap: c.asked}), c.want)
	}
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
