// Package store keeps Parley's state in one SQLite file: tenants, keys,
// assistants, channels, leads, conversations, messages and the event log.
//
// One writer connection and a bounded pool of read-only connections share a
// WAL file: a single writer gives zero SQLITE_BUSY, and many writes share
// one commit and one fsync (writer.go, wal.go). The WAL stays bounded
// however long writes go on (checkpoint.go). Every
// entity method hangs off a Tenant handle, so a query cannot be written
// without its tenant id.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is returned when a row does not exist for the tenant asking.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would break a uniqueness rule.
var ErrConflict = errors.New("already exists")

// DefaultReaders is the size of the read pool: enough for 2 cores and a few
// SSE replays at once, small enough that SQLite's page cache stays warm.
const DefaultReaders = 4

// Store is the SQLite-backed state of one Parley server.
type Store struct {
	w  *sql.DB // exactly one connection: all writes are serialised here
	r  *sql.DB // query_only connections for reads
	ck *sql.DB // the checkpointer's connection (checkpoint.go)

	// writes feed the writer goroutine (group commit, see writer.go), which
	// also hands events to the sink in commit order.
	writes    chan *writeReq
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	// searchDirty says committed messages wait for the search index;
	// indexKick wakes the indexer (indexer.go). searchUntidy says index
	// segments were written since the last merge (tidy.go).
	searchDirty  atomic.Bool
	searchUntidy atomic.Bool
	// countGen changes after every commit that can change a list's total
	// (counts.go).
	countGen atomic.Int64
	counts   genCache[int]
	// assistantGen changes after every commit that wrote assistants
	// (Tenant.Assistant's cache).
	assistantGen atomic.Int64
	// searchGen changes after every commit that inserted messages or
	// conversations or wrote search documents (text-search totals).
	searchGen  atomic.Int64
	assistants genCache[Assistant] // by tenant and id (Tenant.Assistant)
	hooks      hookCache           // active webhooks per tenant (wtx.activeHooks)
	pgq        pgGroups            // PostgreSQL: each tenant's queued writes (pggroup.go)
	seqs       seqCounters         // the writer's event counters (events.go)
	threads    *threadCache        // the writer's conversations (threads.go)
	// defaultChannels remembers each tenant's default channel id
	// (Tenant.DefaultChannel); it never changes once made.
	defaultChannels sync.Map
	indexKick       chan struct{}
	ckKick          chan struct{}
	ckStopped       chan struct{}
	// checkpoints counts the checkpointer's completed runs (for tests).
	checkpoints atomic.Int64
	// ckMu is held by whoever checkpoints (the background loop or the
	// writer); ckWanted asks the background to stand aside (checkpoint.go).
	ckMu     sync.Mutex
	ckWanted atomic.Bool
	wal      walFile
	walMax   int64
	sync     Sync
	// truncateAfter and truncateDelay belong to the writer goroutine: when it
	// may try to empty the WAL again after readers kept it from it.
	truncateAfter time.Time
	truncateDelay time.Duration
	restarted     bool // the writer's last checkpoint was a RESTART
	sink          func([]Event)
	outboxHook    func()

	now             func() time.Time
	writeWait       func(time.Duration)
	checkpointPause func(time.Duration)
	walSync         func(time.Duration)
	// syncq carries committed groups to the syncer (writer.go).
	syncq       chan []*writeReq
	syncStopped chan struct{}

	wstmts, rstmts *stmtCache
	// health says whether writes fail for lack of storage (health.go).
	health storageHealth
	// eng is the database: SQLite (the zero value) or PostgreSQL, whose
	// Store has no writer goroutine, checkpointer or indexer (postgres.go).
	eng engine
}

// Options tunes Open. The zero value is fine.
type Options struct {
	Readers int              // size of the read pool (DefaultReaders when 0)
	Now     func() time.Time // clock, for tests
	// WriteWait, when set, is told how long each write transaction waited
	// for the single writer (the write queue, for metrics).
	WriteWait func(time.Duration)
	// ReadMap is how many bytes of the database file each reader maps
	// into memory (see dsn); 0, SQLite's default, maps none. SQLite caps it
	// at MaxReadMap.
	ReadMap int64
	// WALMax is the WAL size past which the writer empties it
	// (DefaultWALMax when 0; see checkpoint.go).
	WALMax int64
	// Sync says when commits reach the disk (SyncFull, the zero value:
	// before they are answered).
	Sync Sync
	// CheckpointPause, when set, is told how long each of the writer's
	// WAL-emptying checkpoints held up the writes (for metrics).
	CheckpointPause func(time.Duration)
	// WALSync, when set, is told how long each sync of the WAL took.
	WALSync func(time.Duration)
	// Logger receives what the store reports on its own, such as a full
	// disk (slog.Default() when nil).
	Logger *slog.Logger
}

// MaxReadMap is SQLite's largest memory map, 2 GB.
const MaxReadMap = 2147418112

// Open opens (creating if needed) the database at path, applies the schema or
// migrates an older database to it, and returns a ready Store.
//
// A postgres:// URL instead of a path opens PostgreSQL (postgres.go); schema
// is then unused: PostgreSQL has its own, in the package.
func Open(ctx context.Context, path, schema string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if IsPostgresURL(path) {
		return openPostgres(ctx, path, opts)
	}
	if opts.Readers <= 0 {
		opts.Readers = DefaultReaders
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.ReadMap = min(max(opts.ReadMap, 0), MaxReadMap)
	if opts.WALMax <= 0 {
		opts.WALMax = DefaultWALMax
	}
	w, err := sql.Open("sqlite", writerDSN(path, opts.WALMax))
	if err != nil {
		return nil, fmt.Errorf("store: open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w, schema); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, true, opts.ReadMap))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open readers: %w", err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	ck, err := sql.Open("sqlite", dsn(path, false, 0))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open checkpointer: %w", err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxIdleTime(0)
	ck.SetConnMaxLifetime(0)
	s := &Store{w: w, r: r, ck: ck, now: opts.Now, writeWait: opts.WriteWait, sink: func([]Event) {}, outboxHook: func() {},
		wstmts: newStmtCache(w), rstmts: newStmtCache(r),
		writes: make(chan *writeReq, maxGroup), quit: make(chan struct{}), stopped: make(chan struct{}),
		indexKick: make(chan struct{}, 1), ckKick: make(chan struct{}, 1), ckStopped: make(chan struct{}),
		threads: newThreadCache(),
		wal:     walFile{path: path + "-wal"}, walMax: opts.WALMax, sync: opts.Sync, checkpointPause: opts.CheckpointPause,
		walSync: opts.WALSync, syncq: make(chan []*writeReq, maxGroup), syncStopped: make(chan struct{}),
		seqs: seqCounters{committed: map[string]int64{}, group: map[string]int64{}}}
	s.health.log = opts.Logger
	if s.health.log == nil {
		s.health.log = slog.Default()
	}
	go s.writer()
	go s.syncer()
	go s.indexer()
	go s.checkpointer()
	// Segments left by an earlier run are merged after this one indexes
	// something: tidying at start put 1 MB on an idle server's RSS.
	s.noteUnindexed() // rows left unindexed by a crash
	return s, nil
}

// dsn builds the connection string. busy_timeout comes first so that it is in
// force while the other pragmas (WAL switch included) run.
func dsn(path string, readOnly bool, mapBytes int64) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "cache_size(-16000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers may read the database file through a memory map (the
		// server does by default, PARLEY_DB_MMAP_MB): no system call and no
		// copy per page (pages still in the WAL are read), and the readers
		// share the OS's copy where each fills a private 16 MB cache. On the
		// 1M-message database a name search read its FTS5 pages with pread
		// (14 % of its CPU); with a map, at one client, search p99 7.6 ->
		// 4.7 ms and a lead's history p99 2.5 -> 1.2 ms, and under 8 clients
		// the server's anonymous memory was 16 MB instead of 73. The price:
		// RSS counts each reader's mapped pages (a 1.6 GB database showed
		// up to 2.1 GB), an I/O error while reading the map kills the
		// process instead of failing a query, and process-sync measured 4 %
		// slower (readers remap as checkpoints grow the file).
		q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", mapBytes))
	} else {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "wal_autocheckpoint(0)") // the checkpointer's job (checkpoint.go)
	}
	return "file:" + path + "?" + q.Encode()
}

// writerDSN is the writer's connection string. auto_vacuum takes effect only
// on a new database (an existing one keeps its mode until VACUUM): pages
// freed by retention can then be handed back to the file system
// (retention.go). journal_size_limit caps the WAL file SQLite leaves behind
// when it starts the log over by itself.
func writerDSN(path string, walMax int64) string {
	return dsn(path, false, 0) + "&" + url.Values{"_pragma": {"auto_vacuum(INCREMENTAL)",
		fmt.Sprintf("journal_size_limit(%d)", walMax)}}.Encode()
}

// Now is the store's clock (the one that stamps created_at).
func (s *Store) Now() time.Time { return s.now() }

// Close stops the writer (writes still queued fail with ErrClosed) and
// closes both pools.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.stopped
	<-s.ckStopped
	if s.eng == enginePostgres {
		s.pgq.close()
		return s.w.Close()
	}
	s.wstmts.close()
	s.rstmts.close()
	return errors.Join(s.r.Close(), s.ck.Close(), s.w.Close(), s.wal.close())
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// OnEvents sets the function that receives every stored event right after its
// transaction commits, in commit order. It must not block; call it before the
// store is shared. The slice is the sink's to keep: the store never reuses it.
func (s *Store) OnEvents(fn func([]Event)) { s.sink = fn }

// Tenant returns the handle through which every tenant-scoped method is called.
func (s *Store) Tenant(id string) *Tenant { return &Tenant{s: s, id: id} }

// Tenant is a store scoped to one tenant: every query it runs filters on it.
type Tenant struct {
	s  *Store
	id string
}

// ID returns the tenant id the handle is scoped to.
func (t *Tenant) ID() string { return t.id }

// wtx is a write transaction of one tenant; events emitted through it are
// numbered and stored when it commits.
type wtx struct {
	*sql.Tx
	stmts           *stmtCache
	tenant          string
	now             int64
	events          []Event
	outbox          bool       // deliveries were queued: wake the worker after commit
	unindexed       bool       // messages or conversations were inserted: the search index is behind
	counts          bool       // rows that lists count were added, removed or refiled
	assistants      bool       // assistants were written: cached ones are stale
	reindexed       bool       // search documents were written
	hooks           *hookCache // the store's webhooks per tenant (activeHooks)
	defaultChannels *sync.Map  // the store's default channel per tenant (Tenant.DefaultChannel)
	seqs            *seqCounters
	threads         *threadCache    // nil on PostgreSQL: no single writer to keep it exact
	pg              bool            // statements are rebound for PostgreSQL
	locks           map[string]bool // PostgreSQL: advisory locks this transaction holds (pglocks.go)
}

// query runs a read on the reader pool, prepared once (see stmtCache).
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s.eng == enginePostgres { // pgx prepares and caches statements itself
		return s.r.QueryContext(ctx, rebind(q), args...)
	}
	st, err := s.rstmts.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// planned marks a statement's args so that PostgreSQL plans the statement
// for these values each time it runs (pgx's unnamed statement) instead of
// reusing a plan made for any value: for searches, whose pattern decides
// between an index lookup and a walk, and whose folded pattern
// (parley_fold(?)) is then computed once, while planning. SQLite's args are
// returned as they are.
func (s *Store) planned(args []any) []any {
	if s.eng != enginePostgres {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if s.eng == enginePostgres {
		return s.r.QueryRowContext(ctx, rebind(q), args...)
	}
	st, err := s.rstmts.get(ctx, q)
	if err != nil {
		return s.r.QueryRowContext(ctx, q, args...) // Scan reports the error
	}
	return st.QueryRowContext(ctx, args...)
}

// mapErr turns driver errors into the store's sentinels.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("store: %s: %w", op, ErrConflict)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgUniqueViolation {
		return fmt.Errorf("store: %s: %w", op, ErrConflict)
	}
	if unreachable(err) { // reads too answer 503 while PostgreSQL is down (health.go)
		return fmt.Errorf("store: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// nullStr maps "" to NULL for optional text columns.
func nullStr(p *string) any {
	if p == nil || *p == "" {
		return nil
	}
	return *p
}

func strPtr(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	v := ns.String
	return &v
}
