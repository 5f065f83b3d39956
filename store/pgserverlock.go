package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Until Parley's nodes coordinate through PostgreSQL (streams fed across
// nodes, debounce batches and deliveries leased), two servers on one
// database would each fire the same batches and send the same postbacks. So
// a server holds a session advisory lock for its life, as a SQLite server
// holds its lock file; the admin commands do not take it. The lock belongs
// to a connection of its own: PostgreSQL drops it when the process dies,
// however it dies.

// pgServerLock is the first half of the advisory lock key of a running
// server ("parl"); the second half is a hash of the schema Parley's tables
// are in, since installations in different schemas of one database share
// nothing.
const pgServerLock int32 = 0x7061726c

// ErrServerRunning reports a database that another server holds.
var ErrServerRunning = errors.New("another parley server runs on this database")

// LockPostgresServer takes the running-server lock of the PostgreSQL database
// at url, or fails at once with ErrServerRunning naming the holder's pid.
// release gives it back.
func LockPostgresServer(ctx context.Context, url string) (release func(), err error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema()))`, pgServerLock).Scan(&got); err != nil {
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("store: take the server lock: %w", err)
	}
	if !got {
		holder := "unknown pid"
		var pid sql.NullInt64
		_ = conn.QueryRowContext(ctx, `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
AND l.objsubid = 2 AND l.classid::bigint = $1 AND l.objid::bigint = (hashtext(current_schema())::bigint & 4294967295)
LIMIT 1`, pgServerLock).Scan(&pid)
		if pid.Valid {
			holder = fmt.Sprintf("its PostgreSQL backend pid %d", pid.Int64)
		}
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("%w (%s)", ErrServerRunning, holder)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1, hashtext(current_schema()))`, pgServerLock)
		conn.Close()
		db.Close()
	}, nil
}
