package store

// Group commit per tenant, on PostgreSQL. A tenant's writes serialize on its
// event counter anyway (events_postgres.go): each holds the counter's row
// lock from its last statement to its commit, and the next one waits. Run
// one transaction per write and a tenant's throughput is the inverse of that
// hold (bump, a round trip back to Go, COMMIT and its WAL flush: about 3 ms
// on a busy 2-core machine, 330 writes/s whatever the concurrency). So a
// node runs a tenant's concurrent writes the way the SQLite writer runs
// everyone's: whatever queued while the tenant's previous transaction ran
// becomes the next one, with one counter bump and one commit for the whole
// group. Different tenants' groups run at once, each on its own connection.
//
// Within a node, then, one tenant has at most one write transaction open,
// and the counter lock is only ever contended by other nodes. A write that
// fails rolls its group back and every write of the group runs again alone,
// so a failure only undoes its own request (as on SQLite); a group that lost
// a deadlock PostgreSQL broke runs again as a whole.

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime"
	"sync"
	"time"
)

// pgGroups holds each lane's queued writes while its committer runs.
type pgGroups struct {
	mu      sync.Mutex
	queues  map[laneKey][]*writeReq // present while the lane's committer runs
	closed  bool
	running sync.WaitGroup
}

// pgWrite queues fn as a write of tenant and waits for its group to commit.
// A ctx that ended before the write began fails it; once begun, the write is
// not interrupted by ctx (as on SQLite: a write that started finishes, and
// its caller, if it gave up, is simply not told). fn must be safe to run
// twice (a group that fails or loses a deadlock runs again). A database that
// cannot be reached fails the write with ErrUnavailable (health.go).
func (s *Store) pgWrite(ctx context.Context, tenant, about string, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, tenant: tenant, fn: fn, queued: time.Now(), done: make(chan error, 1)}
	g := &s.pgq
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	lane := laneKey{tenant, laneOf(about)}
	q, running := g.queues[lane]
	g.queues[lane] = append(q, req)
	if !running {
		g.running.Add(1)
		go s.pgCommitter(lane)
	}
	g.mu.Unlock()
	return <-req.done
}

// close refuses new writes and waits for the queued ones to finish.
func (g *pgGroups) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.running.Wait()
}

// pgCommitter commits a lane's queued writes, group after group, until none
// are left.
func (s *Store) pgCommitter(lane laneKey) {
	defer s.pgq.running.Done()
	for {
		batch := s.pgq.take(lane)
		if batch == nil {
			return
		}
		s.pgRunGroup(lane.tenant, batch)
	}
}

// take returns the tenant's next group, or nil (and forgets the tenant) when
// nothing is queued. Like the SQLite writer's gather, it yields a few times
// while the group is small: the handlers the last commit answered are
// turning their requests around right then.
func (g *pgGroups) take(lane laneKey) []*writeReq {
	for try := 0; ; try++ {
		g.mu.Lock()
		q := g.queues[lane]
		if len(q) >= gatherEnough || try == gatherYields {
			if len(q) == 0 {
				delete(g.queues, lane)
				g.mu.Unlock()
				return nil
			}
			n := min(len(q), maxGroup)
			batch := q[:n:n]
			g.queues[lane] = q[n:]
			g.mu.Unlock()
			return batch
		}
		g.mu.Unlock()
		runtime.Gosched()
	}
}

// A tenant's writes run in pgLanes lanes, each a committer running one
// group after the other: a lane's group runs its statements while another
// lane's group of the tenant waits for the counter or commits, so a busy
// tenant keeps more than one connection (and core) busy. Writes about the
// same lead or conversation (writeAbout) share a lane and so keep their
// order; since every row lock a message's write takes is its lead's or its
// conversation's, two lanes' groups seldom wait for each other but at the
// counter, and a deadlock between them (PostgreSQL breaks it) costs a
// rerun.
const pgLanes = 4

type laneKey struct {
	tenant string
	lane   uint32
}

// laneOf picks the lane of writes about about ("" goes to lane 0).
func laneOf(about string) uint32 {
	if about == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(about))
	return h.Sum32() % pgLanes
}

// pgRunGroup commits a group and answers its writes. A write whose own
// statements failed (a conflict, a row not found) is answered with its error
// and the group runs again without it: it saw the state its place in the
// group gave it, which is the state it would have seen had it run alone at
// that moment. A failure that is the group's (the events, the commit, a
// transaction some write spoiled) runs each write again alone. When the
// database is unreachable, all fail at once.
func (s *Store) pgRunGroup(tenant string, batch []*writeReq) {
	live := s.live(batch)
	for dropped := 0; len(live) > 0; dropped++ {
		failed, err := s.pgCommit(tenant, live)
		if err == nil {
			s.afterCommit(live)
			for _, r := range live {
				r.done <- nil
			}
			return
		}
		s.hooks.forget(tenant) // it may hold what a rolled-back write read
		switch {
		case unreachable(err) || len(live) == 1:
			for _, r := range live {
				r.done <- err
			}
			return
		case failed >= 0 && dropped < maxDropped && !pgSpoiled(err):
			live[failed].done <- err
			live = append(live[:failed:failed], live[failed+1:]...)
		default:
			for _, r := range live {
				_, err := s.pgCommit(tenant, []*writeReq{r})
				if err == nil {
					s.afterCommit([]*writeReq{r})
				} else {
					s.hooks.forget(tenant)
				}
				r.done <- err
			}
			return
		}
	}
}

// maxDropped bounds how often a group runs again without a failed write
// before the rest run alone (each rerun repeats the writes before it).
const maxDropped = 3

// pgCommit runs the writes in one transaction, running it again when it lost
// a deadlock (pgRetryable). It returns the index of the write that failed,
// or -1 when the failure is not one write's.
func (s *Store) pgCommit(tenant string, reqs []*writeReq) (int, error) {
	for attempt := 1; ; attempt++ {
		failed, err := s.pgCommitOnce(tenant, reqs)
		if err == nil || attempt == pgWriteAttempts || !pgRetryable(err) {
			return failed, pgUnavailable(err)
		}
	}
}

// pgWriteAttempts bounds how often a write that keeps losing races runs.
const pgWriteAttempts = 5

// pgCommitOnce runs the writes' statements, then their events (numbered by
// the tenant's counter, the transaction's last statement), then the commit.
func (s *Store) pgCommitOnce(tenant string, reqs []*writeReq) (int, error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("store: begin: %w", err)
	}
	now := s.now().UnixMilli()
	locks := map[string]bool{} // the transaction's advisory locks, shared by its writes
	var events []Event
	for i, r := range reqs {
		r.w = &wtx{Tx: tx, pg: true, tenant: tenant, now: now, hooks: &s.hooks, defaultChannels: &s.defaultChannels, locks: locks}
		if err := r.fn(r.w); err != nil {
			tx.Rollback()
			return i, err
		}
		events = append(events, r.w.events...)
	}
	if len(events) > 0 {
		if _, err := pgAppendEvents(ctx, tx, tenant, events); err != nil {
			tx.Rollback()
			return -1, err
		}
		for _, r := range reqs { // hand each write its events' ids
			n := copy(r.w.events, events)
			events = events[n:]
		}
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("store: commit: %w", err)
	}
	return -1, nil
}
