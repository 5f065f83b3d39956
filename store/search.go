package store

import (
	"context"
	"strings"
)

// The conversation_search document of a conversation row c joined to its lead
// l: what identifies it, and its meta values (keys are not searched).
//
// Meta values are its string and number leaves at any depth (json_tree walks
// nested objects and arrays): an integrator that files {"contact":{"city":
// "Recife"}} searches for Recife as it would a top-level value. Booleans and
// nulls are left out: a search for "1" or "true" should not find every
// conversation with a flag set. (Version 9; before, only top-level values.)
const (
	searchIdent  = `c.id || ' ' || c.lead_id || ' ' || coalesce(l.name, '') || ' ' || coalesce(l.phone, '') || ' ' || coalesce(l.email, '')`
	metaLeaf     = `type IN ('text', 'integer', 'real')`
	searchMeta   = `coalesce((SELECT group_concat(value, ' ') FROM json_tree(c.meta) WHERE ` + metaLeaf + `), '')`
	metaHasValue = `EXISTS (SELECT 1 FROM json_tree(meta) WHERE ` + metaLeaf + ` AND value LIKE (? || '') ESCAPE '\')`
)

// indexConversations refreshes the search documents of the conversations
// matching where (a condition on c, with args), inside a write transaction.
func indexConversations(ctx context.Context, w *wtx, where string, args ...any) error {
	w.reindexed = true
	_, err := w.ExecContext(ctx, `INSERT OR REPLACE INTO conversation_search (rowid, ident, meta)
SELECT c.rowid, `+searchIdent+`, `+searchMeta+` FROM conversations c
LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id WHERE `+where, args...)
	return mapErr("index conversation", err)
}

// minTrigram is the shortest text the trigram index can look up; shorter
// searches scan the tenant's rows instead.
const minTrigram = 3

// ftsPhrase quotes text as one FTS5 phrase. NUL bytes are dropped: FTS5
// reads its query as a C string, so a NUL would cut the phrase short and
// fail the query ("unterminated string"), and no indexed text holds one.
func ftsPhrase(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
