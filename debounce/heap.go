package debounce

import (
	"container/heap"
	"time"
)

// entry is one pending key. At 24 bytes it is the per-key cost of the heap
// slice; at is an offset from Scheduler.base rather than a time.Time (24
// bytes on its own).
type entry struct {
	at  time.Duration
	key string
}

// entryHeap is a min-heap of entries ordered by at. It implements
// heap.Interface and keeps idx, key → position in items, up to date on
// every swap, so a key's entry is always one map lookup away.
//
// Entries with equal deadlines come out in no particular order.
type entryHeap struct {
	items []entry
	idx   map[string]int
}

var _ heap.Interface = (*entryHeap)(nil)

func (h *entryHeap) Len() int           { return len(h.items) }
func (h *entryHeap) Less(i, j int) bool { return h.items[i].at < h.items[j].at }

func (h *entryHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.idx[h.items[i].key] = i
	h.idx[h.items[j].key] = j
}

// Push appends x, which must be an entry, for heap.Push. The scheduler uses
// push instead, which does not box the entry into an interface.
func (h *entryHeap) Push(x any) {
	e := x.(entry)
	h.idx[e.key] = len(h.items)
	h.items = append(h.items, e)
}

// Pop removes the last entry for heap.Pop and heap.Remove. It returns nil
// rather than the entry, because boxing the entry would allocate; callers
// read the entry before removing it.
func (h *entryHeap) Pop() any {
	n := len(h.items) - 1
	delete(h.idx, h.items[n].key)
	h.items[n] = entry{} // drop the key string so it can be collected
	h.items = h.items[:n]
	// Give memory back after a spike (say a million keys fired after a
	// restart). Shrinking to twice the length keeps this amortised O(1).
	if c := cap(h.items); c > 1024 && n < c/4 {
		h.items = append(make([]entry, 0, 2*n), h.items...)
	}
	return nil
}

// push adds a new key. It does what heap.Push does without the interface
// conversion: fixing the last element only sifts it up.
func (h *entryHeap) push(e entry) {
	h.idx[e.key] = len(h.items)
	h.items = append(h.items, e)
	heap.Fix(h, len(h.items)-1)
}
