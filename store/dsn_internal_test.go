package store

import (
	"context"
	"testing"
)

// TestConnectionPragmas: readers are read-only and read through a memory
// map; the writer and the checkpointer write with pwrite and map nothing.
func TestConnectionPragmas(t *testing.T) {
	ctx := context.Background()
	s := openForTest(t)
	for _, c := range []struct {
		name          string
		read          func(q string, dest any) error
		mmap, queryOn int64
	}{
		{"reader", func(q string, dest any) error { return s.r.QueryRowContext(ctx, q).Scan(dest) }, 2147418112, 1},
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
