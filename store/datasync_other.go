//go:build !linux

package store

import "os"

// datasync flushes f to disk (fsync where fdatasync is not at hand).
func datasync(f *os.File) error { return f.Sync() }
