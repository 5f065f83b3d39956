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
	searchIdent = `c.id || ' ' || c.lead_id || ' ' || coalesce(l.name, '') || ' ' || coalesce(l.phone, '') || ' ' || coalesce(l.email, '')`
	metaLeaf    = `type IN ('text', 'integer', 'real')`
	searchMeta  = `coalesce((SELECT group_concat(value, ' ') FROM json_tree(c.meta) WHERE ` + metaLeaf + `), '')`
)

// metaHasValue matches a conversation's meta values on SQLite, folded.
var metaHasValue = `EXISTS (SELECT 1 FROM json_tree(meta) WHERE ` + metaLeaf + ` AND ` + sqliteLike("value") + `)`

// sqliteLike matches col, folded (parley_fold, fold.go: case and accents),
// with a pattern that sqlitePattern folded and escaped: the scans on SQLite
// compare text as the FTS5 trigram tables and PostgreSQL do. The pattern is
// folded once, in Go, rather than by a parley_fold(?) in the statement.
//
// Only text with a character beyond ASCII (fewer characters than bytes) is
// passed to parley_fold. ASCII text folds to itself lower-cased, and LIKE
// ignores ASCII case (the store never sets case_sensitive_like), so LIKE on
// the text as it is gives the same answer without the call into Go, which
// costs about 200 ns (the driver converts the argument and the result),
// several times length() and octet_length(): a short search reads every
// message of the tenant, and folding every value made search_2_chars 2.1
// times slower than plain LIKE on 2,000 conversations; with this test it is
// 1.7 times there and 1.4 times on 100,000.
// Numbers (meta leaves) take the ELSE branch, unchanged. NULL (a message's
// extracted_text, mostly) is ruled out first, which saves the three calls
// of SQLite's functions on it: 15 % of a short search's message scan.
func sqliteLike(col string) string {
	return `(` + col + ` IS NOT NULL AND (CASE WHEN length(` + col + `) < octet_length(` + col + `) THEN parley_fold(` + col + `) ELSE ` + col + ` END) LIKE (? || '') ESCAPE '\')`
}

// sqlitePattern is likePattern for sqliteLike: s is folded before it is
// escaped, so that the escapes stay as they are.
func sqlitePattern(s string) string {
	return likePattern(fold(s))
}

// pgSearchMeta is searchMeta on PostgreSQL, which has no json_tree: a
// recursive walk that numbers every node by its path of ordinals, so that
// the leaves are joined in document order as json_tree joins them (json,
// not jsonb, which would reorder the keys). A search text that spans two
// values then matches on both engines alike.
const pgSearchMeta = `coalesce((WITH RECURSIVE t(v, ord) AS (
  SELECT c.meta::json, ARRAY[]::bigint[]
  UNION ALL
  SELECT e.value, t.ord || e.n FROM t CROSS JOIN LATERAL (
    SELECT o.value, o.n FROM json_each(CASE WHEN json_typeof(t.v) = 'object' THEN t.v END) WITH ORDINALITY AS o(key, value, n)
    UNION ALL
    SELECT a.value, a.n FROM json_array_elements(CASE WHEN json_typeof(t.v) = 'array' THEN t.v END) WITH ORDINALITY AS a(value, n)) e)
SELECT string_agg(v #>> '{}', ' ' ORDER BY ord) FROM t WHERE json_typeof(v) IN ('string', 'number')), '')`

// indexSQL writes the search documents of the conversations matching a
// condition on c (appended after WHERE), one text per engine: SQLite's FTS5
// table is keyed by the conversation's rowid; PostgreSQL's
// conversation_search by (tenant_id, conversation_id), its text folded as
// the FTS5 tokenizer folds (parley_fold: case and accents).
var indexSQL = [...]struct{ head, tail string }{
	engineSQLite: {`INSERT OR REPLACE INTO conversation_search (rowid, ident, meta)
SELECT c.rowid, ` + searchIdent + `, ` + searchMeta + ` FROM conversations c
LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id WHERE `, ``},
	enginePostgres: {`INSERT INTO conversation_search (tenant_id, conversation_id, ident, meta)
SELECT c.tenant_id, c.id, parley_fold(` + searchIdent + `), parley_fold(` + pgSearchMeta + `) FROM conversations c
LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id WHERE `,
		` ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET ident = excluded.ident, meta = excluded.meta`},
}

// indexConversations refreshes the search documents of the conversations
// matching where (a condition on c, with args), inside a write transaction.
func indexConversations(ctx context.Context, w *wtx, where string, args ...any) error {
	w.reindexed = true
	q := indexSQL[w.engine()]
	_, err := w.ExecContext(ctx, q.head+where+q.tail, args...)
	return mapErr("index conversation", err)
}

// indexNewConversation gives a conversation just inserted its search
// document. On SQLite the indexer adds new conversations in batches, by
// rowid (indexer.go); PostgreSQL has no indexer, so the document is written
// in the conversation's own transaction and a search sees it at once.
func indexNewConversation(ctx context.Context, w *wtx, id string) error {
	if !w.pg {
		return nil
	}
	return indexConversations(ctx, w, `c.tenant_id = ? AND c.id = ?`, w.tenant, id)
}

func (w *wtx) engine() engine {
	if w.pg {
		return enginePostgres
	}
	return engineSQLite
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

// pgText makes s a valid PostgreSQL text parameter: PostgreSQL refuses NUL
// bytes and invalid UTF-8 in text, which SQLite takes. No stored text holds
// either, so dropping NULs and replacing invalid bytes changes no result.
func pgText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// drivenTenant is the tenant term of a conversation query driven from
// lists of candidate rows: on SQLite the unary + keeps the planner from
// walking the tenant's whole index instead; PostgreSQL has statistics (and
// no unary + for text).
var drivenTenant = [...]string{engineSQLite: `+c.tenant_id = ?`, enginePostgres: `c.tenant_id = ?`}

// searchCondition matches s in a conversation's id, its lead's id, name,
// phone and email, its meta values, its assistant's name and its messages'
// text, case and accents ignored: from the trigram indexes when s is long
// enough, by scanning the tenant's rows otherwise.
func (t *Tenant) searchCondition(ctx context.Context, s string) (string, []any, error) {
	if t.s.eng != enginePostgres {
		cond, args := t.sqliteSearchCondition(s)
		return cond, args, nil
	}
	like := likePattern(pgText(s))
	// The assistants whose name matches are looked up first: in the
	// statement, a match of an assistant's name (a handful of rows the
	// planner cannot estimate) stood for every conversation of the tenant,
	// and the planner, expecting 100,000 matches, read them all (70 of a
	// 100 ms search). Looked up apart, the usual answer is none, and the
	// statement has no such branch.
	var agents []string
	rows, err := t.s.query(ctx, `SELECT id FROM assistants WHERE tenant_id = ? AND parley_fold(name)`+pgLike, t.id, like)
	if err != nil {
		return "", nil, mapErr("search assistants", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", nil, mapErr("search assistants", err)
		}
		agents = append(agents, id)
	}
	if err := rows.Err(); err != nil {
		return "", nil, mapErr("search assistants", err)
	}
	cond, args := pgSearchCond[pgScan(s)], []any{t.id, like, like, t.id, like}
	if len(agents) > 0 {
		cond += pgAgentsCond
		args = append(args, t.id, agents)
	}
	return cond + `)`, args, nil
}

// metaCondition matches m in a conversation's meta values.
func (t *Tenant) metaCondition(m string) (string, []any) {
	if t.s.eng == enginePostgres {
		return pgMetaCond[pgScan(m)], []any{t.id, likePattern(pgText(m))}
	}
	if len([]rune(m)) >= minTrigram {
		return `c.pk IN (SELECT rowid FROM conversation_search WHERE conversation_search MATCH ?)`, []any{"meta : " + ftsPhrase(m)}
	}
	return `c.pk IN (SELECT pk FROM conversations WHERE tenant_id = ? AND ` + metaHasValue + `)`, []any{t.id, sqlitePattern(m)}
}

// On PostgreSQL a search compares folded text with LIKE: conversation_search
// and messages.search_text hold it folded already, and the pattern is folded
// by parley_fold, which PostgreSQL computes once while planning, because a
// search statement is planned for its values each time (Store.planned): the
// planner then sees the pattern and estimates its matches from the trigram
// statistics. (Planned for any pattern, it guessed 5,000 matches of 10,000
// and walked every conversation of the tenant against the 32 real ones.)
// pg_trgm's GIN indexes serve LIKE '%…%' from three characters on; a shorter
// pattern gives them no trigram, so a lookup would read the whole index,
// every tenant's. The scan variants append an empty string to the column,
// which no index matches, so PostgreSQL reads the tenant's rows instead, as
// SQLite does.
const pgLike = ` LIKE parley_fold(?) ESCAPE '\'`

func pgScan(s string) int {
	if len([]rune(s)) < minTrigram {
		return 1
	}
	return 0
}

func pgMatch(col string, scan bool) string {
	if scan {
		col = `(` + col + ` || '')`
	}
	return col + pgLike
}

// pgSearchCond and pgMetaCond are the search and meta conditions on
// PostgreSQL, by trigram index [0] or by scan [1]; pgSearchCond lacks its
// closing parenthesis, for pgAgentsCond to go before it when assistants'
// names matched (searchCondition).
var pgSearchCond, pgMetaCond [2]string

const pgAgentsCond = `
UNION ALL SELECT tenant_id, id FROM conversations WHERE tenant_id = ? AND assistant_id = ANY(?)`

func init() {
	for i, scan := range []bool{false, true} {
		pgSearchCond[i] = `(c.tenant_id, c.id) IN (SELECT tenant_id, conversation_id FROM conversation_search
  WHERE tenant_id = ? AND (` + pgMatch("ident", scan) + ` OR ` + pgMatch("meta", scan) + `)
UNION ALL SELECT tenant_id, conversation_id FROM messages WHERE tenant_id = ? AND ` + pgMatch("search_text", scan)
		pgMetaCond[i] = `(c.tenant_id, c.id) IN (SELECT tenant_id, conversation_id FROM conversation_search
  WHERE tenant_id = ? AND ` + pgMatch("meta", scan) + `)`
	}
}

// sqliteSearchCondition is searchCondition on SQLite: the FTS5 trigram
// tables when s is long enough, a scan otherwise. What is scanned is
// compared folded (sqliteLike), as the trigram tables fold it.
func (t *Tenant) sqliteSearchCondition(s string) (string, []any) {
	like := sqlitePattern(s)
	// The conversations of the assistants whose name matches.
	agent := `SELECT ac.pk FROM assistants a CROSS JOIN conversations ac
  WHERE a.tenant_id = ? AND ` + sqliteLike("a.name") + ` AND ac.tenant_id = a.tenant_id AND ac.assistant_id = a.id`
	if len([]rune(s)) >= minTrigram {
		phrase := ftsPhrase(s)
		return `c.pk IN (SELECT rowid FROM conversation_search WHERE conversation_search MATCH ?
UNION ALL SELECT mc.pk FROM messages_search CROSS JOIN messages m CROSS JOIN conversations mc
  WHERE messages_search MATCH ? AND m.pk = messages_search.rowid AND m.tenant_id = ? AND mc.id = m.conversation_id
UNION ALL ` + agent + `)`, []any{phrase, phrase, t.id, t.id, like}
	}
	// Below three characters the trigram indexes cannot help: scan the
	// tenant's conversations, leads and messages once each.
	return `c.pk IN (SELECT pk FROM conversations WHERE tenant_id = ? AND (` + sqliteLike("id") + ` OR ` + sqliteLike("lead_id") + `
  OR ` + metaHasValue + `)
UNION ALL SELECT lc.pk FROM leads l CROSS JOIN conversations lc
  WHERE l.tenant_id = ? AND (` + sqliteLike("l.name") + ` OR ` + sqliteLike("l.phone") + ` OR ` + sqliteLike("l.email") + `)
  AND lc.tenant_id = l.tenant_id AND lc.lead_id = l.id
UNION ALL SELECT mc.pk FROM messages m CROSS JOIN conversations mc
  WHERE m.tenant_id = ? AND (` + sqliteLike("m.content") + ` OR ` + sqliteLike("m.extracted_text") + `) AND mc.id = m.conversation_id
UNION ALL ` + agent + `)`, []any{t.id, like, like, like, t.id, like, like, like, t.id, like, like, t.id, like}
}
