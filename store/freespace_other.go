//go:build !unix

package store

// freeBytes cannot tell the free space here; a storage outage then ends
// with the next successful write only.
func freeBytes(string) int64 { return -1 }
