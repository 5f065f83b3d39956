package store

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite spends more time parsing a statement than running a small one (a
// profile of AddMessage put a third of its CPU in the parser), and
// database/sql prepares afresh for every Exec with arguments. So every query
// text is prepared once per pool and reused: reads through database/sql's
// per-connection statement cache; writes likewise, except that the writer
// pool's only connection is busy inside a transaction, so a write statement
// seen for the first time runs unprepared and is prepared after the commit.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool // writer: texts to prepare once the connection is free
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// get returns the prepared statement for q, preparing it on a free
// connection. Query texts come from code constants and a bounded set of
// filter combinations, so the map stays small.
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

// lookup returns the prepared statement for q if there is one, and otherwise
// remembers q for prepareWanted. It never needs a connection.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.m[q]
	if st == nil {
		c.wanted[q] = true
	}
	return st
}

// prepareWanted prepares the texts lookup missed; the writer calls it after
// a transaction, when its connection is free again.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.wanted {
		if st, err := c.db.PrepareContext(ctx, q); err == nil {
			c.m[q] = st
		}
		delete(c.wanted, q)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	clear(c.m)
}

// A group's statements run without their request's context, whatever the
// caller passes. Interrupting one statement would roll back the whole shared
// transaction (see runGroup), and the driver pays for a cancellable context
// on every statement: a watcher goroutine and a progress handler set and
// cleared (two per message under send, 15,000 goroutines a second). A write
// that started finishes in moments; a caller that gave up is told by write.
var groupCtx = context.Background()

// ExecContext runs q in the transaction, prepared when the writer has it.
func (w *wtx) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	w.threads.check(q)
	return w.execKeepingThreads(groupCtx, q, args...)
}

// execKeepingThreads is ExecContext for a statement whose effect on the
// thread cache the caller records itself (AddMessage's own update).
func (w *wtx) execKeepingThreads(_ context.Context, q string, args ...any) (sql.Result, error) {
	ctx := groupCtx
	if w.pg {
		return w.Tx.ExecContext(ctx, rebind(q), args...)
	}
	if st := w.stmts.lookup(q); st != nil {
		return w.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return w.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs q in the transaction, prepared when the writer has it.
func (w *wtx) QueryContext(_ context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx := groupCtx
	if w.pg {
		return w.Tx.QueryContext(ctx, rebind(q), args...)
	}
	w.threads.check(q)
	if st := w.stmts.lookup(q); st != nil {
		return w.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return w.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs q in the transaction, prepared when the writer has it.
func (w *wtx) QueryRowContext(_ context.Context, q string, args ...any) *sql.Row {
	ctx := groupCtx
	if w.pg {
		return w.Tx.QueryRowContext(ctx, rebind(q), args...)
	}
	w.threads.check(q)
	if st := w.stmts.lookup(q); st != nil {
		return w.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return w.Tx.QueryRowContext(ctx, q, args...)
}
