// Package pgtest gives tests a PostgreSQL of their own: a fresh schema (or,
// when a test needs database-wide state of its own, a fresh database) in the
// server that PARLEY_TEST_DATABASE_URL names, dropped when the test ends.
// Without the variable the tests skip, with one line naming it; .ci/run
// sets it, so in CI a missing PostgreSQL fails the run.
//
// A schema is the unit because it is cheap: CREATE and DROP SCHEMA took
// about 1 ms here against 36 + 88 ms for CREATE and DROP DATABASE (which
// also fails while another session uses the template). The schema is put
// first on the connection's search_path (a runtime parameter in the URL),
// so the code under test needs no schema names. public follows it, because
// extensions are per database, not per schema: pg_trgm and unaccent are
// created once in public by this package, as the server's superuser,
// rather than by a test's migration in its own schema, whose DROP SCHEMA
// CASCADE would take the extension, and every other test's trigram
// indexes, with it.
//
// It lives under store/internal so that the store's own tests (package
// store, which storetest cannot serve without an import cycle) use it too;
// storetest.Postgres is its face for other packages.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names the variable that enables the PostgreSQL tests.
const EnvURL = "PARLEY_TEST_DATABASE_URL"

// Driver is the database/sql driver name to open URLs with.
const Driver = "pgx"

var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

// URL returns the server's URL, skipping the test when it is not set.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skip("PostgreSQL tests skipped: set " + EnvURL + " (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return u
}

// Admin returns a shared connection pool to the server's database as the
// URL's user, made once per test binary. It is never closed: the process
// ends with the tests.
func Admin(t testing.TB) *sql.DB {
	t.Helper()
	u := URL(t)
	adminOnce.Do(func() {
		admin, adminErr = sql.Open(Driver, u)
		if adminErr != nil {
			return
		}
		ctx := context.Background()
		if adminErr = admin.PingContext(ctx); adminErr != nil {
			return
		}
		// Best effort: without the privilege, migrations take the scan
		// fallback, which the tests accept.
		for _, ext := range []string{"pg_trgm", "unaccent"} {
			admin.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS `+ext+` WITH SCHEMA public`)
		}
	})
	if adminErr != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvURL, adminErr)
	}
	return admin
}

// Schema creates a uniquely named schema, drops it (and all in it) when the
// test ends, and returns a URL whose connections work in it.
func Schema(t testing.TB) string {
	t.Helper()
	db := Admin(t)
	name := "parley_test_" + randomHex(t)
	if _, err := db.Exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return WithParam(t, URL(t), "search_path", name+",public")
}

// Database creates a uniquely named empty database (no extensions, owned by
// the URL's user), drops it when the test ends, and returns its URL. It is
// for the few tests that need a database-wide state of their own.
func Database(t testing.TB) string {
	t.Helper()
	db := Admin(t)
	name := "parley_test_" + randomHex(t)
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP DATABASE ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open opens url and closes the pool when the test ends.
func Open(t testing.TB, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open(Driver, u)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// WithParam returns u with the query parameter key set to value (a
// connection parameter such as user, or a runtime one such as search_path).
func WithParam(t testing.TB, u, key, value string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("pgtest: parse URL: %v", err)
	}
	q := p.Query()
	q.Set(key, value)
	p.RawQuery = q.Encode()
	return p.String()
}

func randomHex(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
