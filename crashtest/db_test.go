package crashtest

import (
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the PostgreSQL round's checks
	_ "modernc.org/sqlite"
)

// isPostgres tells a PostgreSQL URL from a SQLite file path (storetest.Target
// gives either).
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// checkDB is a stopped server's database, opened directly for the checks:
// they read what was committed, not what the server says.
type checkDB struct {
	*sql.DB
	pg bool
}

func openCheckDB(t *testing.T, db string) *checkDB {
	t.Helper()
	driver, dsn := "sqlite", "file:"+db+"?_pragma=busy_timeout(5000)"
	if isPostgres(db) {
		driver, dsn = "pgx", db
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &checkDB{DB: conn, pg: isPostgres(db)}
}

var placeholderRE = regexp.MustCompile(`\?(\d*)`)

// q rewrites a statement written with SQLite's placeholders (? and ?N) into
// PostgreSQL's ($N) in the PostgreSQL round, so that each check is written
// once. The checks' statements hold no literal question marks.
func (d *checkDB) q(stmt string) string {
	if !d.pg {
		return stmt
	}
	n := 0
	return placeholderRE.ReplaceAllStringFunc(stmt, func(m string) string {
		if len(m) > 1 {
			return "$" + m[1:]
		}
		n++
		return fmt.Sprintf("$%d", n)
	})
}

// insertOrder is the column that orders a table's rows by insertion, which
// is commit order where the checks use it: SQLite's rowid (one writer, each
// new row one more than the largest), PostgreSQL's deliveries.pos (an
// identity column, in commit order per key under the key's lock; see
// store/delivery_queue.go).
func (d *checkDB) insertOrder() string {
	if d.pg {
		return "pos"
	}
	return "rowid"
}

// messageOrder orders messages by insertion: SQLite's pk, PostgreSQL's id
// (a UUIDv7 drawn when the message is stored, time ordered and monotonic
// within a process; a restart comes later in time). PostgreSQL has no pk.
func (d *checkDB) messageOrder() string {
	if d.pg {
		return "id"
	}
	return "pk"
}

// sqlExec runs statements on the database of a stopped server.
func sqlExec(t *testing.T, db string, stmts ...string) {
	t.Helper()
	d := openCheckDB(t, db)
	for _, s := range stmts {
		if _, err := d.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
