package store

import "testing"

func TestMutatesThreads(t *testing.T) {
	for _, c := range []struct {
		q    string
		want bool
	}{
		{"UPDATE conversations SET unread_count = 0 WHERE tenant_id = ? AND id = ?", true},
		{"\nUPDATE conversations SET assistant_id = (SELECT id FROM assistants)", true},
		{"DELETE FROM conversations WHERE tenant_id = ? AND lead_id = ?", true},
		{"UPDATE leads SET name = ? WHERE id = ?", true},
		{"DELETE FROM leads WHERE tenant_id = ? AND id = ? RETURNING id", true},
		{"UPDATE channels SET name = ?", true},
		{"DELETE FROM channels WHERE id = ?", true},
		{"UPDATE assistants SET pause_on_human = ?", true},
		{"DELETE FROM assistants WHERE tenant_id = ?1 AND id = ?2", true},
		{"DELETE FROM tenants WHERE id = ?", true},
		{"INSERT OR REPLACE INTO leads (id) VALUES (?)", true},
		{"REPLACE INTO conversations (id) VALUES (?)", true},
		{"INSERT INTO leads (id) VALUES (?) ON CONFLICT (id) DO UPDATE SET name = excluded.name", true},
		{"INSERT INTO conversations(id, tenant_id) VALUES (?, ?)", false},
		{"INSERT INTO leads (tenant_id, id) VALUES (?, ?) RETURNING id", false},
		{"INSERT OR REPLACE INTO conversation_search (rowid, ident, meta) SELECT c.rowid FROM conversations c LEFT JOIN leads l", false},
		{"INSERT INTO batches (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = 1", false},
		{"UPDATE tenants SET last_event_seq = ? WHERE id = ?", false},
		{"UPDATE messages SET status = ?", false},
		{"DELETE FROM messages WHERE tenant_id = ? AND lead_id = ?", false},
		{"SELECT * FROM conversations", false},
		{"UPDATE search_state SET messages_indexed_through = ?", false},
	} {
		if got := mutatesThreads(c.q); got != c.want {
			t.Errorf("mutatesThreads(%q) = %v, want %v", c.q, got, c.want)
		}
	}
}
