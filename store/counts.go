package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Counting the rows a list matches costs O(rows) even from an index (~10 ms
// at 100k conversations), and every page of an offset list reports a total.
// So totals are cached until the next committed write that can change one:
// writes that add or remove leads or conversations, or change a
// conversation's status, AI flag, channel or assistant, bump countGen after
// their commit and before they are answered, so a client never sees a total
// older than its own acknowledged write.

// genCache holds values read at a generation of the store (countGen and the
// like): an entry answers only while that generation has not moved.
// With ttl set, an entry also expires that long after it was read: for
// values another server on the same PostgreSQL database may change without
// this one's generation moving.
type genCache[V any] struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]genEntry[V]
}

type genEntry[V any] struct {
	gen int64
	at  time.Time
	v   V
}

// maxCached bounds a genCache; past it the cache starts over.
const maxCached = 10000

func (c *genCache[V]) get(key string, gen int64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.gen != gen || c.ttl > 0 && time.Since(e.at) > c.ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *genCache[V]) put(key string, gen int64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]genEntry[V]{}
	}
	c.m[key] = genEntry[V]{gen: gen, at: time.Now(), v: v}
}

// newMsgCounts notes the count-relevant change a message made: a human who
// pauses the AI moves the conversation between is_ai_active filters. (Every
// message can change what a text search matches: text-search totals are
// cached by searchCountGen, which every new message moves.)
func (w *wtx) newMsgCounts(before, after Conversation) {
	if before.IsAIActive != after.IsAIActive {
		w.counts = true
	}
}

// count runs a count(*) query, or answers it from the cache.
func (s *Store) count(ctx context.Context, q string, args ...any) (int, error) {
	return s.countAt(ctx, s.countGen.Load(), q, args...)
}

// searchCountGen is the generation of text-search totals: they change with
// the rows lists count, with the search index (new messages and
// conversations, re-indexed leads and meta) and with assistants' names. The
// counters only grow, so their sum changes whenever one does.
func (s *Store) searchCountGen() int64 {
	return s.countGen.Load() + s.searchGen.Load() + s.assistantGen.Load()
}

// countAt is count with the generation read by the caller before the query.
func (s *Store) countAt(ctx context.Context, gen int64, q string, args ...any) (int, error) {
	if n, ok := s.cachedCount(gen, q, args...); ok {
		return n, nil
	}
	var n int
	if err := s.queryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, err
	}
	s.keepCount(gen, n, q, args...)
	return n, nil
}

// cachedCount answers count query q from the cache, if it can. On
// PostgreSQL another server on the same database may commit writes this
// one's generations never hear of, so there an entry also expires after
// pgCacheTTL: a total may lag another server's write by that much, never
// this server's own.
func (s *Store) cachedCount(gen int64, q string, args ...any) (int, bool) {
	return s.counts.get(countKey(q, args), gen)
}

// keepCount caches n as the answer of count query q at generation gen.
func (s *Store) keepCount(gen int64, n int, q string, args ...any) {
	s.counts.put(countKey(q, args), gen, n)
}

func countKey(q string, args []any) string { return q + "\x00" + fmt.Sprint(args...) }
