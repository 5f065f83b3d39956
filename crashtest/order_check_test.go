package crashtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkOrder: per conversation (per lead for lead.* webhooks), the
// deliveries to a receiver were first accepted in commit order (API.md
// §3.6), across kills and retries. A delivery may be accepted twice (a kill
// between the send and its record sends it again), but the next one of its
// conversation is sent only after it is recorded, so first acceptances stay
// in order. Commit order is rowid order: SQLite gives each new row the next
// rowid and Parley has one writer; on PostgreSQL it is pos order (see
// checkDB.insertOrder). The key is read from each payload here,
// not from the server's own bookkeeping.
func checkOrder(t *testing.T, db *checkDB, rcPost, rcHook *receiver, c *crashCounts) {
	rows, err := db.Query(`SELECT id, kind, payload FROM deliveries ORDER BY ` + db.insertOrder())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	rank := map[string]map[string]int{"postback": rcPost.firstOrder(), "webhook": rcHook.firstOrder()}
	type seen struct {
		id   string
		rank int
	}
	last := map[string]seen{} // receiver and key → the latest delivery in commit order
	counted := map[string]bool{}
	for rows.Next() {
		var id, kind, payload string
		if err := rows.Scan(&id, &kind, &payload); err != nil {
			t.Fatal(err)
		}
		r, ok := rank[kind][id]
		if !ok {
			continue // never accepted: checkOutbox reports it
		}
		key := kind + " " + orderKey(kind, payload)
		if prev, ok := last[key]; ok {
			c.orderPairs++
			if !counted[key] {
				counted[key] = true
				c.orderKeys++
			}
			if prev.rank > r {
				t.Errorf("%s: delivery %s was first accepted after %s, which was committed after it", key, prev.id, id)
			}
		}
		last[key] = seen{id, r}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// orderKey is what a delivery is ordered with: its conversation, or its
// lead for lead.* webhooks.
func orderKey(kind, payload string) string {
	var p struct {
		ConversationID string `json:"conversation_id"`
		Event          string `json:"event"`
		Data           struct {
			ID             string `json:"id"`
			ConversationID string `json:"conversation_id"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(payload), &p)
	switch {
	case kind == "postback":
		return "conversation " + p.ConversationID
	case strings.HasPrefix(p.Event, "lead."):
		return "lead " + p.Data.ID
	case p.Event == "conversation.updated":
		return "conversation " + p.Data.ID
	default:
		return "conversation " + p.Data.ConversationID
	}
}
