package store

// Writers that SQLite never had: on SQLite one goroutine commits every
// write, so a statement that reads "is there already a row for X?" and then
// writes on the answer is exact. On PostgreSQL, transactions of several
// nodes (and of one node's pool) run at once, and two of them can both read
// "no" before either commits. Each such decision is therefore taken under a
// lock that serialises the transactions deciding about the same X:
//
//   - a lead's active thread created by its first message
//     (resolveConversation): a transaction-scoped advisory lock on the
//     thread, then the lookup again. The lock is taken only after a lookup
//     missed, so the usual case (the thread exists) pays nothing; the second
//     of two racing writers waits for the first to commit and then finds its
//     row, instead of failing on the unique index. (A lead needs no lock:
//     its insert is ON CONFLICT DO NOTHING, which waits for the racing
//     insert's commit, and ensureLead then looks again.)
//   - the outbox's head flag and row order per order key (enqueue, promote,
//     requeue, failWebhook): an advisory lock on (tenant, order key), taken
//     before the statement that looks at the key's pending rows. Held to
//     commit, it makes the key's writers one at a time, so "the key's first
//     pending row" is never decided from a snapshot missing a row that an
//     uncommitted writer is adding, and pos (drawn at insert) follows
//     commit order within a key.
//   - a conversation's state (unread count, AI flag), which AddMessage reads
//     and writes back: the conversation's row lock (SELECT … FOR UPDATE).
//
// Advisory rather than row locks for the first two: there is no row to lock
// before it exists (a lead, a thread), and an outbox key spans rows that are
// inserted and deleted. The lock's key is a 64-bit hash of a namespaced
// string; a collision only makes two unrelated writers wait for each other.
// Each statement of a READ COMMITTED transaction takes a new snapshot, so a
// lookup run after the lock was granted sees what its holder committed.
// Locks are taken in one order within a write (thread, lead, outbox keys,
// and the tenant's counter last); should two writes still wait on each
// other, PostgreSQL breaks the deadlock and pgWrite runs the loser again.

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// Lock namespaces: the first part of an advisory lock's key.
const (
	lockThread = "thread"
	lockOutbox = "outbox"
)

// pgLock takes the transaction-scoped advisory lock named by parts (joined
// with the unit separator, which ids do not hold, and PostgreSQL's text
// takes where it refuses NUL), once per transaction. It does nothing on SQLite, whose single writer needs none.
func (w *wtx) pgLock(ctx context.Context, parts ...string) error {
	if !w.pg {
		return nil
	}
	name := ""
	for i, p := range parts {
		if i > 0 {
			name += "\x1f"
		}
		name += p
	}
	if w.locks[name] {
		return nil
	}
	if _, err := w.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, name); err != nil {
		return mapErr("lock "+parts[0], err)
	}
	if w.locks == nil {
		w.locks = map[string]bool{}
	}
	w.locks[name] = true
	return nil
}

// PostgreSQL's SQLSTATEs for a transaction that lost to a concurrent one
// and may simply run again.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// pgInFailedTransaction is PostgreSQL's answer to a statement sent after an
// earlier one of the transaction failed.
const pgInFailedTransaction = "25P02"

// pgSpoiled reports whether err came from a transaction an earlier failed
// statement had already spoiled: the write that got it is not the one that
// failed.
func pgSpoiled(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgInFailedTransaction
}

// pgRetryable reports whether err ended a transaction that lost a race with
// another (a deadlock PostgreSQL broke, a serialization failure): running
// the write again is the answer, not an error for the client.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == pgDeadlockDetected || pe.Code == pgSerializationFailure)
}
