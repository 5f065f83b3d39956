package store

import (
	"context"
	"fmt"
	"sync"
)

// Counting the rows a list matches costs O(rows) even from an index (~10 ms
// at 100k conversations), and every page of an offset list reports a total.
// So totals are cached until the next committed write that can change one:
// writes that add or remove leads or conversations, or change a
// conversation's status, AI flag, channel or assistant, bump countGen after
// their commit and before they are answered, so a client never sees a total
// older than its own acknowledged write.
type countCache struct {
	mu sync.Mutex
	m  map[string]cachedCount
}

type cachedCount struct {
	gen int64
	n   int
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

// maxCachedCounts bounds the cache; past it the cache starts over.
const maxCachedCounts = 10000

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

// cachedCount answers count query q from the cache, if it can.
func (s *Store) cachedCount(gen int64, q string, args ...any) (int, bool) {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	c, ok := s.counts.m[countKey(q, args)]
	if !ok || c.gen != gen {
		return 0, false
	}
	return c.n, true
}

// keepCount caches n as the answer of count query q at generation gen.
func (s *Store) keepCount(gen int64, n int, q string, args ...any) {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	if len(s.counts.m) >= maxCachedCounts {
		clear(s.counts.m)
	}
	s.counts.m[countKey(q, args)] = cachedCount{gen: gen, n: n}
}

func countKey(q string, args []any) string { return q + "\x00" + fmt.Sprint(args...) }
