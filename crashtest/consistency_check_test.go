package crashtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// crashCounts is what checkDatabase found, for the log.
type crashCounts struct {
	kills, resent             int
	found                     map[string]int // kind → acknowledged requests stored exactly once
	duplicates, missing       int
	postbacks, postbackMsgs   int // distinct postback deliveries, messages they carry
	postbackOK                int // 2xx answers to postbacks, repeats included
	deliveries, webhooks      int // outbox rows, of which webhooks
	accepted, repeats         int // outbox rows accepted by a receiver; extra 2xx answers to the same id
	events                    int64
	syncAnswers, syncQuestion int
	orderKeys, orderPairs     int // conversations and leads with 2+ deliveries to a receiver; consecutive pairs checked
}

func (c crashCounts) log(t *testing.T, lg *ledger) {
	retried := map[bool]int{}
	for _, m := range []map[string]*ack{lg.sync, lg.deb} {
		for _, a := range m {
			retried[a.retried]++
		}
	}
	t.Logf("kills %d; acknowledged: sync %d, debounced %d, send %d, lead %d; unknown (connection broke): %v, "+
		"%d of them /ai/process requests sent again at the end",
		c.kills, len(lg.sync), len(lg.deb), len(lg.sends), len(lg.leads), lg.unknown, retried[true])
	t.Logf("found exactly once: sync %d/%d, debounced %d/%d, send %d/%d, lead %d/%d; duplicates %d; missing %d",
		c.found["sync"], len(lg.sync), c.found["debounced"], len(lg.deb), c.found["send"], len(lg.sends),
		c.found["lead"], len(lg.leads), c.duplicates, c.missing)
	t.Logf("sync conversations: %d user messages, %d AI answers", c.syncQuestion, c.syncAnswers)
	t.Logf("postbacks: %d debounced messages expected, %d carried by %d distinct postbacks, accepted %d times (%d repeats)",
		len(lg.deb), c.postbackMsgs, c.postbacks, c.postbackOK, c.postbackOK-c.postbacks)
	t.Logf("deliveries: %d outbox rows (%d webhooks, %d postbacks), %d accepted by the receivers, %d repeated 2xx",
		c.deliveries, c.webhooks, c.deliveries-c.webhooks, c.accepted, c.repeats)
	t.Logf("order: %d conversations and leads with several deliveries, %d consecutive pairs first accepted in commit order",
		c.orderKeys, c.orderPairs)
	t.Logf("events: ids 1..%d contiguous; resent %d acknowledged requests", c.events, c.resent)
}

// checkDatabase runs the checks that need the stopped server's database and
// both receivers' records.
func checkDatabase(t *testing.T, target, tenant string, lg *ledger, rcPost, rcHook *receiver) crashCounts {
	c := crashCounts{found: map[string]int{}}
	db := openCheckDB(t, target)
	pairs := func(q string, args ...any) map[string][]string { // first column → second columns
		rows, err := db.Query(db.q(q), args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		out := map[string][]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = append(out[k], v)
		}
		return out
	}

	// The file is sound. (PostgreSQL recovers from its own WAL and checks
	// foreign keys at every statement: nothing of the kind to ask it.)
	if !db.pg {
		var integrity string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
			t.Errorf("PRAGMA integrity_check = %q, %v (want ok)", integrity, err)
		}
		if fk := pairs(`SELECT "table", coalesce(parent, '') FROM pragma_foreign_key_check`); len(fk) > 0 {
			t.Errorf("PRAGMA foreign_key_check found rows whose parent is missing: %v", fk)
		}
	}

	// Event ids: 1..N without a gap, and the counter says N.
	var n, lo, hi, last int64
	db.QueryRow(db.q(`SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events WHERE tenant_id = ?`), tenant).Scan(&n, &lo, &hi)
	db.QueryRow(db.q(`SELECT last_event_seq FROM tenants WHERE id = ?`), tenant).Scan(&last)
	c.events = n
	if n == 0 || lo != 1 || hi != n || last != n {
		gaps := pairs(`SELECT seq + 1, '' FROM events e WHERE tenant_id = ?1 AND seq < ?2
AND NOT EXISTS (SELECT 1 FROM events WHERE tenant_id = ?1 AND seq = e.seq + 1) LIMIT 5`, tenant, hi)
		t.Errorf("event ids: %d events, min %d, max %d, tenants.last_event_seq %d (want 1..N contiguous and N); first missing ids: %v",
			n, lo, hi, last, gaps)
	}

	// Every acknowledged request is stored exactly once, as it was answered.
	once := func(kind, key string, got []string, want string) {
		switch {
		case len(got) == 1 && got[0] == want:
			c.found[kind]++
		case len(got) == 0:
			c.missing++
			t.Errorf("%s %s was acknowledged (id %s) but is not stored", kind, key, want)
		case len(got) > 1:
			t.Errorf("%s %s is stored %d times: %v (acknowledged id %s)", kind, key, len(got), got, want)
		default:
			t.Errorf("%s %s is stored as %s, acknowledged as %s", kind, key, got[0], want)
		}
	}
	dups := func(what string, m map[string][]string) {
		for k, ids := range m {
			if len(ids) > 1 {
				c.duplicates++
				t.Errorf("%s %s stored %d times: %v", what, k, len(ids), ids)
			}
		}
	}
	byExt := pairs(`SELECT external_id, id FROM messages WHERE external_id IS NOT NULL`)
	dups("message with external_id", byExt)
	idem := pairs(`SELECT substr(key, 5), coalesce(CAST(status_code AS TEXT), 'unfinished') FROM idempotency WHERE key LIKE 'ext:%'`)
	for kind, m := range map[string]map[string]*ack{"sync": lg.sync, "debounced": lg.deb} {
		for ext, a := range m {
			id, _ := a.body["message_id"].(string)
			once(kind, ext, byExt[ext], id)
			if st := idem[ext]; len(st) != 1 || st[0] == "unfinished" {
				t.Errorf("%s %s: idempotency record %v, want one finished record", kind, ext, st)
			}
		}
	}
	sends := pairs(`SELECT content, id FROM messages WHERE role = 'human'`)
	dups("operator message", sends)
	for content, id := range lg.sends {
		once("send", content, sends[content], id)
	}
	leads := pairs(`SELECT name, id FROM leads WHERE name LIKE 'lead-%'`)
	dups("lead named", leads)
	for name, id := range lg.leads {
		once("lead", name, leads[name], id)
	}
	if b := pairs(`SELECT conversation_id, message_ids FROM batches`); len(b) > 0 {
		t.Errorf("%d debounce batches still pending after the quiet period: %v", len(b), b)
	}

	checkSyncAnswers(t, db, lg, &c)
	checkOutbox(t, pairs, lg, rcPost, rcHook, &c)
	checkOrder(t, db, rcPost, rcHook, &c)
	return c
}

// checkSyncAnswers: in the sync conversations every user message has exactly
// one AI answer ("You said: <text>", the builtin reply), stored after it, and
// every acknowledged answer is the stored one.
func checkSyncAnswers(t *testing.T, db *checkDB, lg *ledger, c *crashCounts) {
	rows, err := db.Query(`SELECT id, role, content FROM messages WHERE lead_id LIKE 'sync-%' ORDER BY ` + db.messageOrder())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	userAt := map[string]bool{}
	answers := map[string][]string{} // user text → answer ids
	answerText := map[string]string{}
	for rows.Next() {
		var id, role, content string
		if err := rows.Scan(&id, &role, &content); err != nil {
			t.Fatal(err)
		}
		switch role {
		case "user":
			c.syncQuestion++
			userAt[content] = true
		case "assistant":
			c.syncAnswers++
			text := strings.TrimPrefix(content, "You said: ")
			if _, ok := userAt[text]; !ok {
				t.Errorf("AI answer %s (%q) is stored before the message it answers, or answers nothing", id, content)
			}
			answers[text] = append(answers[text], id)
			answerText[id] = content
		}
	}
	for text := range userAt {
		if n := len(answers[text]); n != 1 {
			c.duplicates += min(n, 2) - 1
			t.Errorf("sync message %q has %d AI answers %v (want exactly 1: §3.5 never calls the AI twice)", text, n, answers[text])
		}
	}
	for ext, a := range lg.sync {
		rid, _ := a.body["response_message_id"].(string)
		resp, _ := a.body["response"].(string)
		if rid == "" || answerText[rid] != resp {
			t.Errorf("sync %s answered %q as message %q, stored: %q", ext, resp, rid, answerText[rid])
		}
	}
}

// checkOutbox: every outbox row is delivered and was accepted by its
// receiver; every acknowledged debounced message is in exactly one postback;
// every acknowledged fact has exactly one webhook of its event.
func checkOutbox(t *testing.T, pairs func(string, ...any) map[string][]string, lg *ledger, rcPost, rcHook *receiver, c *crashCounts) {
	postOK, postBodies, _ := rcPost.snapshot()
	hookOK, hookBodies, _ := rcHook.snapshot()
	rows := pairs(`SELECT id, kind || ' ' || status FROM deliveries`)
	c.deliveries = len(rows)
	for id, v := range rows {
		kind, status, _ := strings.Cut(v[0], " ")
		ok := postOK
		if kind == "webhook" {
			ok, c.webhooks = hookOK, c.webhooks+1
		}
		if status != "delivered" {
			t.Errorf("%s delivery %s is %s (want delivered)", kind, id, status)
		}
		if ok[id] == 0 {
			t.Errorf("%s delivery %s (%s) was never accepted by the receiver", kind, id, status)
		} else {
			c.accepted++
			c.repeats += ok[id] - 1
		}
	}
	for _, ok := range []map[string]int{postOK, hookOK} {
		for id := range ok {
			if rows[id] == nil {
				t.Errorf("the receiver accepted delivery %s, which is not in the outbox", id)
			}
		}
	}

	inPostbacks := map[string][]string{} // message id → postback delivery ids
	facts := map[string][]string{}       // "event id" → webhook delivery ids
	var responses []string
	for id, body := range postBodies {
		var pb struct {
			MessageIDs        []string `json:"message_ids"`
			ResponseMessageID string   `json:"response_message_id"`
		}
		json.Unmarshal(body, &pb)
		c.postbacks++
		c.postbackOK += postOK[id]
		c.postbackMsgs += len(pb.MessageIDs)
		responses = append(responses, pb.ResponseMessageID)
		for _, m := range pb.MessageIDs {
			inPostbacks[m] = append(inPostbacks[m], id)
		}
	}
	for m, ids := range inPostbacks {
		if len(ids) > 1 {
			c.duplicates++
			t.Errorf("debounced message %s is in %d distinct postbacks %v (want one batch, one postback)", m, len(ids), ids)
		}
	}
	for ext, a := range lg.deb {
		if id, _ := a.body["message_id"].(string); len(inPostbacks[id]) == 0 {
			t.Errorf("acknowledged debounced message %s (%s) is in no postback", id, ext)
		}
	}

	for id, body := range hookBodies {
		var h struct {
			Event string `json:"event"`
			Data  struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		json.Unmarshal(body, &h)
		facts[h.Event+" "+h.Data.ID] = append(facts[h.Event+" "+h.Data.ID], id)
	}
	want := func(event, id string) {
		if n := len(facts[event+" "+id]); n != 1 {
			t.Errorf("%s webhook for %s: %d distinct deliveries %v (want 1)", event, id, n, facts[event+" "+id])
		}
	}
	for _, id := range lg.leads {
		want("lead.created", id)
	}
	for _, id := range lg.sends {
		want("message.sent", id)
	}
	for _, m := range []map[string]*ack{lg.sync, lg.deb} {
		for _, a := range m {
			id, _ := a.body["message_id"].(string)
			want("message.received", id)
			if rid, ok := a.body["response_message_id"].(string); ok {
				want("ai.response", rid)
			}
		}
	}
	for _, rid := range responses {
		want("ai.response", rid)
	}
}
