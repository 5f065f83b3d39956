package crashtest

import (
	"net/http"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// A sync turn whose answer was stored but whose response never reached the
// gateway (the process died, or the write of its idempotency record failed)
// is retried by the gateway with the same external_id. API.md §3.5: the retry
// gets the first answer and never calls the AI a second time.
//
// TestCrashConsistency hits this with a real SIGKILL now and then (the window
// is between the answer's transaction and the idempotency record's in
// ai.Pipeline.process); here a trigger makes the idempotency record's
// completion fail, which leaves what such a kill leaves, on every run.
// Whatever the fix (say, finishing the record in the answer's transaction),
// this test holds once the retry is answered once.
func TestRetryOfAnsweredTurnIsNotAnsweredTwice(t *testing.T) {
	db := storetest.Target(t)
	p := startParley(t, db)
	tenant := p.tenantID()
	p.kill()
	if isPostgres(db) {
		// PostgreSQL's triggers call a function; both live in the test's
		// schema (first on the URL's search_path) and go with it.
		sqlExec(t, db, `CREATE FUNCTION crashtest_fail() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'crashtest: the process died here'; END $$`,
			`CREATE TRIGGER crashtest_fail_finish BEFORE UPDATE OF status_code ON idempotency
FOR EACH ROW WHEN (NEW.status_code IS NOT NULL) EXECUTE FUNCTION crashtest_fail()`)
	} else {
		sqlExec(t, db, `CREATE TRIGGER crashtest_fail_finish BEFORE UPDATE OF status_code ON idempotency
WHEN NEW.status_code IS NOT NULL BEGIN SELECT RAISE(ABORT, 'crashtest: the process died here'); END`)
	}

	p = startParley(t, db)
	const lead = "5511977776666@s.whatsapp.net"
	req := map[string]any{"tenant_id": tenant, "lead_id": lead, "role": "user", "content": "oi",
		"message_type": "text", "external_id": "wamid.retry-after-kill"}
	code, err := p.call("POST", "/ai/process", req, nil)
	t.Logf("first attempt (the gateway never sees this answer): status %d, err %v", code, err)
	p.kill()
	if isPostgres(db) {
		sqlExec(t, db, `DROP TRIGGER crashtest_fail_finish ON idempotency`)
	} else {
		sqlExec(t, db, `DROP TRIGGER crashtest_fail_finish`)
	}

	p = startParley(t, db)
	var again map[string]any
	p.must("POST", "/ai/process", req, http.StatusOK, &again)
	var msgs []struct {
		ID      string `json:"id"`
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	p.must("GET", "/backend/messages?lead="+lead, nil, http.StatusOK, &msgs)
	var users, answers []string
	for _, m := range msgs {
		switch m.Role {
		case "user":
			users = append(users, m.ID)
		case "assistant":
			answers = append(answers, m.ID)
		}
	}
	if len(users) != 1 || len(answers) != 1 {
		t.Fatalf("after the retry the lead has user messages %v and AI answers %v, want one of each "+
			"(ai/turn.go: process re-runs the AI for an unfinished idempotency record)", users, answers)
	}
	if again["message_id"] != users[0] || again["response_message_id"] != answers[0] {
		t.Errorf("the retry answered message %v with %v, want the stored %s and %s",
			again["message_id"], again["response_message_id"], users[0], answers[0])
	}
}
