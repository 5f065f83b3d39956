package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Group commit. SQLite has one writer, and most of a small write's cost is
// the commit: every page it dirtied (the message, its indexes, the events,
// the search index, the conversation's indexes) is written to the WAL. So one
// goroutine owns the writer connection and runs the write transactions queued
// at the same moment inside one SQLite transaction, each in a SAVEPOINT of
// its own so that one failing request rolls back alone. A burst of N
// concurrent writes then pays for one commit; a lone write pays what it did
// before.

// maxGroup bounds how many queued writes share one commit, so that a huge
// burst still commits (and answers) in steps.
const maxGroup = 128

// gatherEnough and gatherYields tune gather.
const (
	gatherEnough = 16
	gatherYields = 3
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store: closed")

type writeReq struct {
	ctx    context.Context
	tenant string
	fn     func(*wtx) error
	queued time.Time
	done   chan error
	w      *wtx
}

// write runs fn as one atomic write for tenant, possibly sharing its SQLite
// transaction with other writes queued at the same time, and hands the
// events it emitted to the sink after the commit.
func (s *Store) write(ctx context.Context, tenant string, fn func(*wtx) error) error {
	return s.writeAbout(ctx, tenant, "", fn)
}

// writeAbout is write for a write about one lead or conversation (about
// names it): on PostgreSQL, writes about different ones may commit in
// parallel groups (pggroup.go), writes about the same one stay in order.
func (s *Store) writeAbout(ctx context.Context, tenant, about string, fn func(*wtx) error) error {
	if s.eng == enginePostgres {
		return s.pgWrite(ctx, tenant, about, fn)
	}
	req := &writeReq{ctx: ctx, tenant: tenant, fn: fn, queued: time.Now(), done: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// writer is the goroutine that owns the writer connection. Between groups
// it keeps the WAL bounded (checkpoint.go); when writes stop for a moment it
// empties the WAL.
func (s *Store) writer() {
	defer close(s.stopped)
	defer func() { close(s.syncq); <-s.syncStopped }() // every committed write answered first
	batch := make([]*writeReq, 0, maxGroup)
	idle := time.NewTimer(idleTruncate)
	defer idle.Stop()
	for {
		select {
		case <-s.quit:
			return
		case req := <-s.writes:
			batch = append(batch[:0], req)
			s.gather(&batch)
			start := time.Now()
			s.runGroup(batch)
			s.wal.pauses.observe(start, time.Since(start))
			s.boundWAL()
			idle.Reset(idleTruncate)
		case <-idle.C:
			if s.wal.size() > 0 {
				s.emptyWAL()
				if s.wal.size() > 0 { // a reader held it: try again later
					idle.Reset(idleTruncate)
				}
			}
		}
	}
}

// gather adds the writes queued behind the first to its group. When only a
// few are queued, it yields a few times first: the requests that the last
// commit answered are being turned around by HTTP handlers on the other
// goroutines right then, and letting them queue makes the group several
// times larger (measured under send with 32 clients: groups of 4 became
// groups of 13, and a commit costs about the same either way). With nothing
// else to run, a yield returns at once, so a lone write is not delayed.
func (s *Store) gather(batch *[]*writeReq) {
	for try := 0; ; try++ {
	drain:
		for len(*batch) < maxGroup {
			select {
			case r := <-s.writes:
				*batch = append(*batch, r)
			default:
				break drain
			}
		}
		if len(*batch) >= gatherEnough || try == gatherYields {
			return
		}
		runtime.Gosched()
	}
}

// runGroup commits a group of writes together. If one of them fails, the
// shared transaction is rolled back and each write runs again alone, so that
// a failure only ever undoes its own request. (Savepoints per request would
// do the same without the rerun, but SQLite's FTS5 flushes its pending index
// at every savepoint, which costs more than the rare rerun.) Statements run
// without the requests' cancellation: interrupting a write statement would
// roll back the whole shared transaction, and a write that started finishes
// in moments.
func (s *Store) runGroup(batch []*writeReq) {
	live := s.live(batch)
	if len(live) == 0 {
		return
	}
	err := s.commit(live)
	switch {
	case err == nil:
		s.committed(live)
	case len(live) > 1:
		for _, r := range live {
			if err := s.commit([]*writeReq{r}); err != nil {
				s.finish([]*writeReq{r}, err)
			} else {
				s.committed([]*writeReq{r})
			}
		}
	default:
		s.finish(live, err)
	}
}

// live answers the queued writes whose callers gave up and returns the
// others, telling writeWait how long each waited.
func (s *Store) live(batch []*writeReq) []*writeReq {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if s.writeWait != nil {
			s.writeWait(time.Since(r.queued))
		}
		live = append(live, r)
	}
	return live
}

// committed hands a committed group on to be answered: at once when commits
// need no sync, else through the syncer.
func (s *Store) committed(reqs []*writeReq) {
	if s.sync != SyncFull {
		s.finish(reqs, nil)
		return
	}
	s.syncq <- reqs
}

// syncer answers committed groups once the WAL is synced, in commit order.
// Groups committed while a sync is in flight share the next one.
func (s *Store) syncer() {
	defer close(s.syncStopped)
	var groups [][]*writeReq
	for reqs := range s.syncq {
		groups = append(groups[:0], reqs)
	drain:
		for {
			select {
			case more, ok := <-s.syncq:
				if !ok {
					break drain
				}
				groups = append(groups, more)
			default:
				break drain
			}
		}
		start := time.Now()
		err := s.wal.sync()
		if s.walSync != nil {
			s.walSync(time.Since(start))
		}
		for _, g := range groups {
			s.finish(g, err)
		}
	}
}

// commit runs the requests in one transaction and commits it; the first
// error rolls everything back.
func (s *Store) commit(reqs []*writeReq) (err error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer s.wstmts.prepareWanted(ctx)
	defer func() {
		s.seqs.settle(err == nil)
		s.threads.settle(err == nil)
		if err != nil {
			for _, r := range reqs { // it may hold what a rolled-back write read
				s.hooks.forget(r.tenant)
			}
		}
	}()
	now := s.now().UnixMilli()
	ws := make([]*wtx, len(reqs))
	for i, r := range reqs {
		r.w = &wtx{Tx: tx, stmts: s.wstmts, tenant: r.tenant, now: now, hooks: &s.hooks, defaultChannels: &s.defaultChannels, seqs: &s.seqs, threads: s.threads}
		ws[i] = r.w
		if err := r.fn(r.w); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := flushEvents(ctx, ws); err != nil {
		tx.Rollback()
		return err
	}
	if err := s.seqs.save(ctx, ws[0]); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.kickCheckpoint()
	return nil
}

// finish answers the requests of a commit and, when it succeeded, hands
// their events to the sink in order and wakes the outbox. If the WAL could
// not be synced the writes are committed but not known to be on disk: they
// are answered with the error, never acknowledged. (Their events stay in
// the log for replay; the live stream misses them.) A failure for lack of
// storage is answered as ErrStorage (health.go).
func (s *Store) finish(reqs []*writeReq, err error) {
	err = s.health.observe(err)
	if err == nil {
		s.afterCommit(reqs)
	}
	for _, r := range reqs {
		r.done <- err
	}
}

// afterCommit hands committed writes' events to the sink, in order, and
// tells the caches, the search indexer and the outbox what changed; it runs
// before the writes are answered (a search right after a write must see it).
func (s *Store) afterCommit(reqs []*writeReq) {
	outbox, unindexed := false, false
	for _, r := range reqs {
		if len(r.w.events) > 0 {
			s.sink(r.w.events)
		}
		outbox = outbox || r.w.outbox
		unindexed = unindexed || r.w.unindexed
		if r.w.counts {
			s.countGen.Add(1)
		}
		if r.w.assistants {
			s.assistantGen.Add(1)
		}
		if r.w.unindexed || r.w.reindexed {
			s.searchGen.Add(1)
		}
		if r.w.reindexed {
			s.searchUntidy.Store(true)
		}
	}
	if unindexed && s.eng == engineSQLite { // PostgreSQL keeps its search columns itself
		s.noteUnindexed()
	}
	if outbox {
		s.outboxHook()
	}
}
