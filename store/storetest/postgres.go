package storetest

import (
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
