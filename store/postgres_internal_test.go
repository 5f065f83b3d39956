package store

import "testing"

func TestRebind(t *testing.T) {
	cases := []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`SELECT a FROM t WHERE x = ?1 OR z = ?1 AND y = ?2`, `SELECT a FROM t WHERE x = $1 OR z = $1 AND y = $2`},
		{`SELECT '?' || "a?b" FROM t WHERE x = ?`, `SELECT '?' || "a?b" FROM t WHERE x = $1`},
		{`SELECT id FROM channels WHERE tenant_id = ? AND is_default = 1`, `SELECT id FROM channels WHERE tenant_id = $1 AND is_default = TRUE`},
		{`UPDATE deliveries SET head = 0 WHERE rowid = ?`, `UPDATE deliveries SET head = FALSE WHERE rowid = $1`},
		{`SELECT * FROM webhooks WHERE active = 1 AND inactive_count = 1`, `SELECT * FROM webhooks WHERE active = TRUE AND inactive_count = 1`},
		{`SELECT head = 10 FROM t`, `SELECT head = 10 FROM t`},
	}
	for _, c := range cases {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}
