package storetest

import (
	"os"
	"testing"

	"github.com/parley-dev/parley/store/internal/pgtest"
)

// Postgres returns the URL of a fresh, empty PostgreSQL schema of its own
// for this test (dropped when it ends), in the server named by
// PARLEY_TEST_DATABASE_URL. Without that variable the test is skipped with
// a line naming it. See store/internal/pgtest for why a schema.
func Postgres(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t)
}

// Engine is the engine this round of the test binary runs on: "sqlite", or
// "postgres" during RunEngines' second round.
func Engine() string {
	if os.Getenv("PARLEY_TEST_ENGINE") == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// RunEngines is a TestMain body: it runs the package's tests on SQLite,
// then, when PARLEY_TEST_DATABASE_URL is set, all of them again on
// PostgreSQL (New then opens PostgreSQL), and returns the exit code.
// Without the variable the second round is skipped with one line naming it.
func RunEngines(m interface{ Run() int }) int {
	code := m.Run()
	if os.Getenv("PARLEY_TEST_DATABASE_URL") == "" {
		println("storetest: PostgreSQL round skipped: set PARLEY_TEST_DATABASE_URL to run the tests on PostgreSQL too")
		return code
	}
	os.Setenv("PARLEY_TEST_ENGINE", "postgres")
	defer os.Unsetenv("PARLEY_TEST_ENGINE")
	if c := m.Run(); c != 0 {
		code = c
	}
	return code
}
