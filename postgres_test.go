package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestServeOnPostgres runs `parley serve` with PARLEY_DATABASE_URL: the
// first start migrates and bootstraps, messages go in and come back, the
// stream replays them with contiguous ids, a second server on the same
// database exits 1 at once (until nodes coordinate), the admin CLI works
// beside the first, `parley backup` points to pg_dump, the password never
// reaches the log, and once the first server stops another may start.
func TestServeOnPostgres(t *testing.T) {
	u, err := url.Parse(storetest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-in-url") // trust auth ignores it; the log must too
	setEnv(t, "")
	t.Setenv("PARLEY_DATABASE_URL", u.String())
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	t.Setenv("PARLEY_RATE_LIMIT_PER_MINUTE", "0")

	first := startServer(t)
	tenant := first.tenantID(t, testKey)
	for i := 0; i < 3; i++ {
		status, _, body := first.post(t, testKey, "/ai/process", fmt.Sprintf(
			`{"tenant_id":%q,"lead_id":"pg-lead","role":"user","content":"hello %d","message_type":"text"}`, tenant, i))
		if status != http.StatusOK || !strings.Contains(body, fmt.Sprintf("You said: hello %d", i)) {
			t.Fatalf("POST /ai/process on PostgreSQL = %d %s", status, body)
		}
	}
	if code, out, errOut := cli(t, "serve"); code != 1 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 ||
		!strings.Contains(errOut, "another parley server") || !strings.Contains(errOut, "pid") {
		t.Errorf("a second server on the same PostgreSQL = %d %q %q, want exit 1 with one line naming the holder", code, out, errOut)
	}
	ids := first.eventIDs(t, testKey)
	if len(ids) == 0 {
		t.Fatal("no events replayed")
	}
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("event ids are not contiguous from 1: %v", ids)
		}
	}
	if code, out, errOut := cli(t, "tenants", "list"); code != 0 || !strings.Contains(out, tenant) {
		t.Errorf("parley tenants list on PostgreSQL = %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "backup", t.TempDir()+"/x.db"); code != 1 || !strings.Contains(errOut, "pg_dump") {
		t.Errorf("parley backup on PostgreSQL = %d %q, want 1 naming pg_dump", code, errOut)
	}
	if strings.Contains(first.stderr.String(), "s3cret-in-url") {
		t.Errorf("the database password reached the log: %s", tail(first.stderr.String(), 1500))
	}
	if !strings.Contains(first.stderr.String(), "db=postgres://postgres@") {
		t.Errorf("the start-up line does not name the PostgreSQL database: %s", tail(first.stderr.String(), 1500))
	}
	if code := first.stop(t); code != 0 {
		t.Fatalf("first server exit = %d", code)
	}
	next := startServer(t)
	code, body := next.get(t, testKey, "/backend/messages/pg-lead?limit=100")
	if code != http.StatusOK || strings.Count(body, `"You said: hello`) != 3 {
		t.Fatalf("the next server's view = %d %s", code, body)
	}
}

// TestServeRefusesNewerPostgresSchema: a database migrated by a newer
// Parley makes serve (and the CLI) exit 1 with one line, touching nothing.
func TestServeRefusesNewerPostgresSchema(t *testing.T) {
	target := storetest.Postgres(t)
	setEnv(t, "")
	t.Setenv("PARLEY_DATABASE_URL", target)
	if code, _, errOut := cli(t, "tenants", "list"); code != 0 { // migrates the schema
		t.Fatalf("first command = %d %q", code, errOut)
	}
	db, err := sql.Open("pgx", target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE parley_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve"}, {"tenants", "list"}} {
		code, out, errOut := cli(t, args...)
		if code != 1 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 ||
			!strings.Contains(errOut, "newer than this parley") {
			t.Errorf("parley %v on a newer schema = %d %q %q, want exit 1 with one line", args, code, out, errOut)
		}
	}
}
