package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestCLICopyToPostgres: `parley copy --to URL` beside a running server
// copies its SQLite database and prints the rows per table; a server started
// on the PostgreSQL database accepts the same key, lists the same
// conversations, replays the same event ids and numbers the next one after
// them. A second copy into it is refused.
func TestCLICopyToPostgres(t *testing.T) {
	target := storetest.Postgres(t)
	setEnv(t, "")
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", testKey)
	t.Setenv("PARLEY_RATE_LIMIT_PER_MINUTE", "0")
	s := startServer(t)
	for i := range 6 {
		s.send(t, testKey, fmt.Sprintf("lead-%d", i%2), fmt.Sprintf("before the move %d", i))
	}
	code, out, errOut := cli(t, "copy", "--to", target)
	if code != 0 {
		t.Fatalf("copy = %d: %s", code, errOut)
	}
	var counts map[string]int
	jsonOut(t, out, &counts)
	for _, table := range []string{"tenants", "api_keys", "assistants", "channels", "leads", "conversations", "messages",
		"events", "idempotency", "batches", "webhooks", "deliveries"} {
		if _, ok := counts[table]; !ok {
			t.Errorf("copy printed no count for %s: %s", table, out)
		}
	}
	if counts["tenants"] != 1 || counts["conversations"] != 2 || counts["messages"] < 6 || counts["events"] < 6 {
		t.Fatalf("copy printed %s", out)
	}
	s.stop(t)

	t.Setenv("PARLEY_DATABASE_URL", target)
	pg := startServer(t)
	if code, body := pg.get(t, testKey, "/backend/conversations?limit=10"); code != http.StatusOK || strings.Count(body, `"lead_id"`) < 2 {
		t.Fatalf("the server on PostgreSQL lists %d %s, want the 2 conversations", code, body)
	}
	ids := pg.eventIDs(t, testKey)
	if len(ids) != counts["events"] || ids[0] != 1 || ids[len(ids)-1] != counts["events"] {
		t.Fatalf("the PostgreSQL stream replays %v, want 1…%d", ids, counts["events"])
	}
	pg.send(t, testKey, "lead-new", "after the move")
	if next := pg.firstEventAfter(t, testKey, counts["events"]); next != counts["events"]+1 {
		t.Fatalf("after the move the next event id is %d, want %d", next, counts["events"]+1)
	}

	code, out, errOut = cli(t, "copy", "--to", target)
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("copy into a non-empty database = %d %q %q, want 1 and one line", code, out, errOut)
	}
}

// TestCLICopyUsage: a missing or wrong --to is a usage error (exit 2, one
// line) that touches no database, and help lists the command.
func TestCLICopyUsage(t *testing.T) {
	db := setEnv(t, "")
	for _, args := range [][]string{{"copy"}, {"copy", "--to", "/tmp/x.db"}, {"copy", "--to", "mysql://h/db"},
		{"copy", "--to"}, {"copy", "--to", "postgres://h/db", "extra"}} {
		code, out, errOut := cli(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v = %d %q %q, want 2 and one line", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("refused copies created %s (stat err %v)", db, err)
	}
	// A missing source is an error of its own (exit 1), and creates nothing.
	if code, _, errOut := cli(t, "copy", "--to", "postgres://127.0.0.1:1/none"); code != 1 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("copy of a missing database = %d %q, want 1 and one line", code, errOut)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("copy created %s (stat err %v)", db, err)
	}
	if _, out, _ := cli(t, "help"); !strings.Contains(out, "parley copy --to URL") {
		t.Errorf("help does not list copy:\n%s", out)
	}
}
