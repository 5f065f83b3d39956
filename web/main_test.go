package web_test

import (
	"os"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestMain runs the web tests on SQLite and, when PARLEY_TEST_DATABASE_URL
// names a PostgreSQL server (CI sets it), all of them again on PostgreSQL:
// the harness opens storetest.Target, a schema of its own per test.
func TestMain(m *testing.M) {
	os.Exit(storetest.RunEngines(m))
}
