package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrStorage reports a write refused because the storage under the database
// is full or failing (disk full, quota, I/O errors). It is an outage, not a
// bug: nothing was written, nothing acknowledged is lost, and writes work
// again by themselves once space returns. The web layer answers 503.
var ErrStorage = errors.New("storage is full or failing")

// ErrUnavailable reports a request that failed because the database could
// not be reached (PostgreSQL down, restarting, refusing connections, or the
// network to it broken). It is an outage, not a bug: the web layer answers
// 503 UNAVAILABLE. A write that fails so is never acknowledged; one whose
// commit was cut off may or may not have committed, which is what
// idempotency keys are for.
var ErrUnavailable = errors.New("database unavailable")

// storageLogEvery bounds how often a storage outage is logged: a full disk
// fails every request, and one line per request would fill the log (and,
// often, the same disk) for nothing.
const storageLogEvery = time.Minute

// storageHealth remembers whether the last write failed for lack of storage.
// The first successful commit clears it.
type storageHealth struct {
	failing atomic.Bool
	log     *slog.Logger

	mu      sync.Mutex
	cause   string // what ran out, for readiness and the log
	lastLog time.Time
}

// storageCause names what ran out when err is a storage failure: "disk full"
// or "I/O error"; "" for any other error.
func storageCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "53100": // disk_full
			return "disk full"
		case "58030": // io_error
			return "I/O error"
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary code: extended I/O codes are IOERR_*
		case sqlite3.SQLITE_FULL:
			return "disk full"
		case sqlite3.SQLITE_IOERR:
			return "I/O error"
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return "disk full"
	case errors.Is(err, syscall.EIO):
		return "I/O error"
	}
	return ""
}

// observe records the outcome of a write and returns the error to answer
// with: a storage failure comes back wrapped in ErrStorage.
func (h *storageHealth) observe(err error) error {
	if err == nil {
		if h.failing.Load() && h.failing.CompareAndSwap(true, false) {
			h.log.Info("storage: writes succeed again")
		}
		return nil
	}
	cause := storageCause(err)
	if cause == "" {
		return err
	}
	h.failing.Store(true)
	now := time.Now()
	h.mu.Lock()
	h.cause = cause
	logNow := now.Sub(h.lastLog) >= storageLogEvery
	if logNow {
		h.lastLog = now
	}
	h.mu.Unlock()
	if logNow {
		h.log.Error("storage: writes refused until it recovers (logged at most once a minute)", "cause", cause,
			"err", err)
	}
	return fmt.Errorf("%w (%s): %w", ErrStorage, cause, err)
}

// StorageError reports whether writes currently fail for lack of storage:
// nil when the last write succeeded (or none failed that way), else an
// error matching ErrStorage that names the cause.
func (s *Store) StorageError() error {
	if !s.health.failing.Load() {
		return nil
	}
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return fmt.Errorf("%w (%s)", ErrStorage, s.health.cause)
}

// unreachable reports whether err says the database could not be reached:
// a connection that could not be made or broke (the pool hands back a new
// one for the next request), or PostgreSQL's own connection errors (class
// 08) and shutdown or startup refusals (57P01–57P03).
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up: not an outage (and a net.Error by its methods)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// pgUnavailable marks err as ErrUnavailable when the database could not be
// reached, and as ErrStorage when PostgreSQL is out of disk.
func pgUnavailable(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrUnavailable), errors.Is(err, ErrStorage):
		return err
	case unreachable(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if cause := storageCause(err); cause != "" {
		return fmt.Errorf("%w (%s): %w", ErrStorage, cause, err)
	}
	return err
}

// probeFree is the free space past which RetryStorage tries a write: an
// operator who cleaned up left far more than this, while a disk that is
// merely less full (a few pages free) does not count as recovered.
const probeFree = 64 << 20

// RetryStorage ends a storage outage without waiting for a client's write:
// while writes fail for lack of storage and the database's file system
// again has plenty of free space (or the cause was an I/O error), it commits
// one small real write. It returns StorageError's answer afterwards.
// Readiness calls it, so that a server that a load balancer stopped sending
// writes to notices on its own that space came back.
func (s *Store) RetryStorage(ctx context.Context) error {
	err := s.StorageError()
	if err == nil {
		return nil
	}
	if free := freeBytes(filepath.Dir(s.wal.path)); free >= 0 && free < probeFree {
		return err
	}
	_ = s.write(ctx, "", func(w *wtx) error { // the outcome lands in s.health
		_, err := w.ExecContext(ctx, `UPDATE search_state SET messages_indexed_through = messages_indexed_through WHERE id = 1`)
		return err
	})
	return s.StorageError()
}
