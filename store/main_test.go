package store

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs every test of the package on SQLite and then, when
// PARLEY_TEST_DATABASE_URL names a PostgreSQL server and
// PARLEY_TEST_POSTGRES=all, all of them again on PostgreSQL (openForTest
// and storetest.New open PostgreSQL in that round; SQLite-only tests skip).
// The second condition goes once every query runs on PostgreSQL.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("PARLEY_TEST_DATABASE_URL") != "" && os.Getenv("PARLEY_TEST_POSTGRES") == "all" {
		fmt.Println("store: the same tests on PostgreSQL")
		os.Setenv("PARLEY_TEST_ENGINE", "postgres")
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}
