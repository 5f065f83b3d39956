package store

// Planner statistics on PostgreSQL. PostgreSQL plans a query from its
// tables' statistics, which ANALYZE gathers and autovacuum normally runs. A
// table that was never analysed has none, and then the planner guesses:
// measured here, it found a lead's thread by walking every active
// conversation of the tenant (an index on (tenant_id, status) looked as good
// as the unique thread index), 5 ms at 10,000 conversations and growing with
// them, until the first ANALYZE; and a prepared statement keeps such a plan.
// Autovacuum analyses a table at the earliest a minute after it starts
// filling, and not at all where it is turned off. So the store analyses its
// own tables when they have rows and no statistics, and, where autovacuum is
// off, when a tenth of their rows changed since the last ANALYZE (what
// autovacuum would do). It never vacuums: with autovacuum off, dead rows
// accumulate, and Open says so once.

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// analyzeEvery is how often the store looks at its tables' statistics.
const analyzeEvery = 2 * time.Second

// analyzeMinRows is the size below which a table is not worth analysing:
// the planner's guesses are harmless on a few pages.
const analyzeMinRows = 500

// pgStaleTablesSQL lists the store's tables (those of the schema it
// migrated) that need statistics: never analysed and past analyzeMinRows,
// or (with autovacuum off) changed by a tenth since their last ANALYZE.
const pgStaleTablesSQL = `SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND n_live_tup + n_mod_since_analyze >= $1 AND (
  (last_analyze IS NULL AND last_autoanalyze IS NULL)
  OR (NOT $2 AND n_mod_since_analyze > 50 + 0.1 * n_live_tup))
ORDER BY relname`

// analyzer keeps the store's tables analysed until the store closes.
func (s *Store) analyzer(log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-s.quit; cancel() }()
	var autovacuum string
	if err := s.w.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&autovacuum); err == nil && autovacuum != "on" {
		log.Warn("PostgreSQL runs with autovacuum off: Parley analyses its tables itself, but dead rows are only removed by a VACUUM you run")
	}
	t := time.NewTicker(analyzeEvery)
	defer t.Stop()
	for {
		s.analyzeStale(ctx, autovacuum == "on", log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// analyzeStale runs ANALYZE on each table that needs it. SKIP_LOCKED: a
// table another session (another node, autovacuum) is analysing is left to
// it.
func (s *Store) analyzeStale(ctx context.Context, autovacuum bool, log *slog.Logger) {
	rows, err := s.w.QueryContext(ctx, pgStaleTablesSQL, analyzeMinRows, autovacuum)
	if err != nil {
		return // the database is away: health.go says so
	}
	var tables []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) == nil {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, name := range tables {
		if _, err := s.w.ExecContext(ctx, `ANALYZE (SKIP_LOCKED) `+pgx.Identifier{name}.Sanitize()); err != nil {
			if ctx.Err() == nil {
				log.Debug("analyze", "table", name, "err", err)
			}
			return
		}
	}
}
