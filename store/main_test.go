package store

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs every test of the package on SQLite and then, when
// PARLEY_TEST_DATABASE_URL names a PostgreSQL server (CI sets it), all of
// them again on PostgreSQL (openForTest and storetest.New open PostgreSQL in
// that round; SQLite-only tests skip).
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("PARLEY_TEST_DATABASE_URL") == "" {
		fmt.Println("store: PostgreSQL round skipped: set PARLEY_TEST_DATABASE_URL to run these tests on PostgreSQL too")
	} else {
		fmt.Println("store: the same tests on PostgreSQL")
		os.Setenv("PARLEY_TEST_ENGINE", "postgres")
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	os.Exit(code)
}
