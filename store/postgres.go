package store

// The store on PostgreSQL (API.md §8): the same API over a pgx pool. What
// differs from SQLite stays below the write seam: a write is a plain
// transaction per tenant and group (pggroup.go: PostgreSQL has real
// concurrent writers, so groups of different tenants commit at once; there is
// no checkpointer and no search indexer: search columns are kept by the
// database), and event ids come from the tenant's counter, bumped by the
// transaction's last statement (events_postgres.go). Statements are written
// once, with SQLite's `?` placeholders; rebind turns them into PostgreSQL's
// `$n` (statements that differ in substance carry one text per engine).

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// engine is the database a Store runs on.
type engine int

const (
	engineSQLite engine = iota
	enginePostgres
)

// IsPostgresURL reports whether target names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgresURL(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// pgUniqueViolation is PostgreSQL's SQLSTATE for a broken unique
// constraint (mapErr turns it into ErrConflict, as SQLite's).
const pgUniqueViolation = "23505"

// pgMaxConns bounds the pool: enough for a node's concurrent requests to
// overlap their round trips, few enough that several nodes fit in
// PostgreSQL's default max_connections (100).
const pgMaxConns = 20

// openPostgres connects, migrates under the migration lock and returns a
// Store whose one background goroutine keeps its tables analysed.
func openPostgres(ctx context.Context, url string, opts Options) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err)
	}
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	if _, err := migratePostgres(ctx, db, pgMigrateOptions{}); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{eng: enginePostgres, w: db, r: db, now: opts.Now, writeWait: opts.WriteWait,
		sink: func([]Event) {}, outboxHook: func() {},
		writes: make(chan *writeReq), quit: make(chan struct{}), stopped: make(chan struct{}),
		pgq: pgGroups{queues: map[laneKey][]*writeReq{}}, hooks: hookCache{ttl: pgCacheTTL}, assistants: genCache[Assistant]{ttl: pgCacheTTL}, counts: genCache[int]{ttl: pgCacheTTL},
		ckStopped: make(chan struct{}), syncStopped: make(chan struct{})}
	s.health.log = opts.Logger
	if s.health.log == nil {
		s.health.log = slog.Default()
	}
	close(s.ckStopped) // no checkpointer, indexer or syncer on PostgreSQL
	close(s.syncStopped)
	go func() { s.analyzer(s.health.log); close(s.stopped) }() // pganalyze.go
	return s, nil
}

// rebound caches rebind's translations: statement texts are code constants
// and a bounded set of filter combinations.
var rebound sync.Map // string → string

// pgFlags are the columns that are INTEGER 0/1 on SQLite and BOOLEAN on
// PostgreSQL. SQLite's partial indexes are written `WHERE head = 1`, and its
// planner uses one only for a query that says the same, so the shared text
// compares with 1 and 0; PostgreSQL gets TRUE and FALSE.
var pgFlags = regexp.MustCompile(`\b(is_default|pause_on_human|is_ai_active|active|head)(\s*=\s*)([01])\b`)

// rebind turns a statement written for SQLite into PostgreSQL's: `?` and
// `?N` placeholders become `$n` (`?`s numbered in order), and flag columns
// compared or set to 1 or 0 get TRUE or FALSE (pgFlags). Quoted strings and
// identifiers are left alone by the placeholders' rewrite.
func rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	orig := q
	q = pgFlags.ReplaceAllStringFunc(q, func(m string) string {
		if strings.HasSuffix(m, "1") {
			return m[:len(m)-1] + "TRUE"
		}
		return m[:len(m)-1] + "FALSE"
	})
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	rebound.Store(orig, out)
	return out
}
