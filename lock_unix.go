//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDatabase makes sure that one server at a time runs on a SQLite
// database. Two would both start and then fail half their writes, each
// counting event ids on its own. It takes an exclusive flock on
// "<db>.lock", held until release (or the process's end, however it ends:
// the kernel drops the lock), and writes the holder's pid into it for the
// next one's error message. The admin commands never take it: they work
// beside a running server, through SQLite's own locking.
//
// flock, on a file of its own, leaves SQLite's POSIX locks on the database
// alone (closing any descriptor of a file drops those).
func lockDatabase(db string) (release func(), err error) {
	path := db + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		holder := "unknown pid"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, fmt.Errorf("%s is in use by another parley server (%s); one server per SQLite database: "+
			"to run several nodes, put them on PostgreSQL (PARLEY_DATABASE_URL)", db, holder)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		f.Close() // drops the lock
	}, nil
}
