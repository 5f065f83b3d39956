package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// pgEventRun is a load of concurrent write transactions, each storing a
// fact (an idempotency row) and 1–3 events of one of tenants.
type pgEventRun struct {
	tenants     []string
	writers     int
	txPerWriter int
	rollbackPct int  // transactions rolled back, half before and half after numbering their events
	sequence    bool // the control: ids from a sequence at insert, not the tenant's counter
}

// pgEventResult is what the writers committed.
type pgEventResult struct {
	committedTx, rolledBackTx int
	committed                 map[string][]int64 // event ids per tenant, as the writers saw them commit
	elapsed                   time.Duration
}

// pgEventsSetUp makes a fresh migrated schema with the run's tenants.
func pgEventsSetUp(t testing.TB, r *pgEventRun, tenants int) *sql.DB {
	t.Helper()
	db := pgtest.Open(t, pgtest.Schema(t))
	if _, err := migratePostgres(context.Background(), db, pgMigrateOptions{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for i := range tenants {
		r.tenants = append(r.tenants, fmt.Sprintf("t%03d", i))
	}
	if _, err := db.Exec(`INSERT INTO tenants (id, name, postback_secret, created_at)
SELECT id, id, 's', 0 FROM unnest($1::text[]) AS id`, r.tenants); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE SEQUENCE control_seq`); err != nil {
		t.Fatal(err)
	}
	return db
}

func pgRunWriters(ctx context.Context, db *sql.DB, r pgEventRun) (pgEventResult, error) {
	res := pgEventResult{committed: map[string][]int64{}}
	var mu sync.Mutex
	var txSeq atomic.Int64
	errs := make(chan error, r.writers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range r.writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for range r.txPerWriter {
				tenant := r.tenants[rng.IntN(len(r.tenants))]
				seqs, committed, err := pgWriteOne(ctx, db, r, rng, tenant, txSeq.Add(1))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if committed {
					res.committedTx++
					res.committed[tenant] = append(res.committed[tenant], seqs...)
				} else {
					res.rolledBackTx++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(errs)
	return res, <-errs
}

// pgWriteOne runs one write transaction and reports the ids it committed.
func pgWriteOne(ctx context.Context, db *sql.DB, r pgEventRun, rng *rand.Rand, tenant string, n int64) ([]int64, bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	key := fmt.Sprintf("k%d", n)
	if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency (tenant_id, key, message_id, created_at) VALUES ($1, $2, 'm', 0)`, tenant, key); err != nil {
		return nil, false, err
	}
	rollback := rng.IntN(100) < r.rollbackPct
	if rollback && rng.IntN(2) == 0 {
		return nil, false, tx.Rollback()
	}
	evs := make([]Event, 1+rng.IntN(3))
	for i := range evs {
		evs[i] = Event{TenantID: tenant, Type: EventNewMessage, ConversationID: key, Payload: []byte(`{"type":"new_message","data":{}}`)}
	}
	var seqs []int64
	if r.sequence {
		rows, err := tx.QueryContext(ctx, `INSERT INTO events (tenant_id, seq, type, payload, created_at)
SELECT $1, nextval('control_seq'), 'new_message', '{}', 0 FROM generate_series(1, $2) RETURNING seq`, tenant, len(evs))
		if err != nil {
			return nil, false, err
		}
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				return nil, false, err
			}
			seqs = append(seqs, s)
		}
		if err := rows.Err(); err != nil {
			return nil, false, err
		}
	} else {
		if _, err := pgAppendEvents(ctx, tx, tenant, evs); err != nil {
			return nil, false, err
		}
		for _, ev := range evs {
			seqs = append(seqs, ev.Seq)
		}
	}
	if rollback {
		return nil, false, tx.Rollback()
	}
	return seqs, true, tx.Commit()
}

// pgTail is a reader tailing every tenant's log with seq > last, as an SSE
// stream does, until stop is closed and it has read once more after that.
type pgTail struct {
	last   map[string]int64
	seen   map[string]int
	gaps   []string // ids read that did not follow the previous one (the first few)
	nGaps  int
	rounds int
}

func pgTailEvents(ctx context.Context, db *sql.DB, tenants []string, stop <-chan struct{}) (*pgTail, error) {
	tl := &pgTail{last: map[string]int64{}, seen: map[string]int{}}
	lasts := make([]int64, len(tenants))
	for {
		var done bool
		select {
		case <-stop:
			done = true // the writers are done: this round reads the rest
		default:
		}
		for i, t := range tenants {
			lasts[i] = tl.last[t]
		}
		rows, err := db.QueryContext(ctx, `SELECT e.tenant_id, e.seq FROM unnest($1::text[], $2::bigint[]) AS l(tenant, last)
JOIN events e ON e.tenant_id = l.tenant AND e.seq > l.last ORDER BY 1, 2`, tenants, lasts)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var t string
			var seq int64
			if err := rows.Scan(&t, &seq); err != nil {
				rows.Close()
				return nil, err
			}
			if seq != tl.last[t]+1 {
				tl.nGaps++
				if len(tl.gaps) < 5 {
					tl.gaps = append(tl.gaps, fmt.Sprintf("%s: %d after %d", t, seq, tl.last[t]))
				}
			}
			tl.last[t] = seq
			tl.seen[t]++
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		tl.rounds++
		if done {
			return tl, nil
		}
	}
}

// runWithTail runs the writers while a reader tails.
func (r pgEventRun) runWithTail(t *testing.T, db *sql.DB) (pgEventResult, *pgTail) {
	t.Helper()
	ctx := context.Background()
	stop := make(chan struct{})
	var tl *pgTail
	var tailErr error
	var wg sync.WaitGroup
	wg.Go(func() { tl, tailErr = pgTailEvents(ctx, db, r.tenants, stop) })
	res, err := pgRunWriters(ctx, db, r)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("writers: %v", err)
	}
	if tailErr != nil {
		t.Fatalf("reader: %v", tailErr)
	}
	return res, tl
}

// TestPostgresEventIDsGapFree is the proof that event ids from the
// tenant's counter are gap-free under concurrent writers: 8 writers commit
// (and on purpose roll back) transactions with events while a reader tails
// seq > last; it must read every committed id exactly once, in order, each
// one following the last.
func TestPostgresEventIDsGapFree(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tenants     int
		txPerWriter int
	}{
		{"one tenant", 1, 400},
		{"100 tenants", 100, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pgEventRun{writers: 8, txPerWriter: tc.txPerWriter, rollbackPct: 10}
			db := pgEventsSetUp(t, &r, tc.tenants)
			res, tl := r.runWithTail(t, db)
			total := 0
			for _, tenant := range r.tenants {
				ids := res.committed[tenant]
				slices.Sort(ids)
				for i, id := range ids {
					if id != int64(i+1) {
						t.Fatalf("%s: committed ids are not 1…%d: position %d holds %d", tenant, len(ids), i, id)
					}
				}
				if tl.seen[tenant] != len(ids) || tl.last[tenant] != int64(len(ids)) {
					t.Errorf("%s: the reader read %d ids up to %d; %d were committed", tenant, tl.seen[tenant], tl.last[tenant], len(ids))
				}
				var counter int64
				if err := db.QueryRow(`SELECT last_event_seq FROM tenants WHERE id = $1`, tenant).Scan(&counter); err != nil || counter != int64(len(ids)) {
					t.Errorf("%s: last_event_seq = %d, %v; want %d", tenant, counter, err, len(ids))
				}
				total += len(ids)
			}
			if tl.nGaps > 0 {
				t.Errorf("the reader saw %d ids out of order, e.g. %v", tl.nGaps, tl.gaps)
			}
			if res.rolledBackTx == 0 {
				t.Error("no transaction was rolled back: the run proves less than it says")
			}
			t.Logf("%d writers, %s: %d transactions committed, %d rolled back, %d events read once each in order by %d reads, no gaps (%.0f tx/s with the reader)",
				r.writers, tc.name, res.committedTx, res.rolledBackTx, total, tl.rounds, float64(res.committedTx+res.rolledBackTx)/res.elapsed.Seconds())
		})
	}
}

// TestPostgresEventIDsSequenceControl runs the same load with ids from a
// sequence, to show that the tail above would catch misordering: the
// reader usually misses ids there. It only logs (how many are missed
// depends on timing), and never fails.
func TestPostgresEventIDsSequenceControl(t *testing.T) {
	r := pgEventRun{writers: 8, txPerWriter: 300, sequence: true}
	db := pgEventsSetUp(t, &r, 1)
	res, tl := r.runWithTail(t, db)
	committed := len(res.committed[r.tenants[0]])
	missed := committed - tl.seen[r.tenants[0]]
	t.Logf("control (ids from a sequence): the tail missed %d of %d committed events (%.1f %%)",
		missed, committed, 100*float64(missed)/float64(committed))
}

// TestPostgresBumpEventSeq checks the counter's arithmetic, that a
// rollback gives the ids back, and a missing tenant.
func TestPostgresBumpEventSeq(t *testing.T) {
	r := pgEventRun{}
	db := pgEventsSetUp(t, &r, 1)
	ctx := context.Background()
	tenant := r.tenants[0]
	step := func(commit bool, fn func(tx *sql.Tx) (int64, error)) int64 {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		last, err := fn(tx)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	bump := func(n int) func(tx *sql.Tx) (int64, error) {
		return func(tx *sql.Tx) (int64, error) { return pgBumpEventSeq(ctx, tx, tenant, n) }
	}
	evs := []Event{{Type: EventNewMessage, Payload: []byte(`{}`)}, {Type: EventStatusChange, Payload: []byte(`{}`)}}
	for _, tc := range []struct {
		name   string
		commit bool
		fn     func(tx *sql.Tx) (int64, error)
		want   int64
	}{
		{"bump 3", true, bump(3), 3},
		{"bump 2, rolled back", false, bump(2), 5},
		{"bump 1 reuses the rolled-back ids", true, bump(1), 4},
		{"append 2 events", true, func(tx *sql.Tx) (int64, error) { return pgAppendEvents(ctx, tx, tenant, evs) }, 6},
	} {
		if got := step(tc.commit, tc.fn); got != tc.want {
			t.Errorf("%s: last = %d, want %d", tc.name, got, tc.want)
		}
	}
	if evs[0].Seq != 5 || evs[1].Seq != 6 {
		t.Errorf("appended events numbered %d, %d; want 5, 6", evs[0].Seq, evs[1].Seq)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := pgBumpEventSeq(ctx, tx, "nobody", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("bump of a missing tenant: %v, want ErrNotFound", err)
	}
	if _, err := pgAppendEvents(ctx, tx, "nobody", evs); !errors.Is(err, ErrNotFound) {
		t.Errorf("append to a missing tenant: %v, want ErrNotFound", err)
	}
}

// BenchmarkPostgresEventSeq measures write transactions per second (a fact
// and 1–3 events each) with 8 writers on one tenant, whose counter
// serializes them, spread over 100 tenants, and, for reference, on one
// tenant with ids from a sequence (not serialized, and not gap-free).
func BenchmarkPostgresEventSeq(b *testing.B) {
	for _, bc := range []struct {
		name     string
		tenants  int
		sequence bool
	}{
		{"tenants=1", 1, false},
		{"tenants=100", 100, false},
		{"tenants=1/sequence", 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := pgEventRun{writers: 8, sequence: bc.sequence}
			db := pgEventsSetUp(b, &r, bc.tenants)
			r.txPerWriter = max(1, b.N/r.writers)
			b.ResetTimer()
			res, err := pgRunWriters(context.Background(), db, r)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.committedTx)/res.elapsed.Seconds(), "tx/s")
		})
	}
}
