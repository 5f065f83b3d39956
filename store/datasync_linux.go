package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data (and only the metadata needed to read it back,
// such as a changed size): what SQLite itself uses for the WAL on Linux.
// While the WAL is rewritten in place its size does not change, and this
// does not wait for the file system's journal, which a full fsync does.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
