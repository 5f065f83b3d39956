//go:build unix

package store

import "golang.org/x/sys/unix"

// freeBytes reports the space left to unprivileged writers on the file
// system holding dir, or -1 when it cannot tell.
func freeBytes(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
