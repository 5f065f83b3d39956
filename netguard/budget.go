package netguard

import (
	"context"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Budget caps the bytes of fetched bodies held in memory at once, across
// every fetch that shares it (PARLEY_MEDIA_MEMORY_MB): without it, N
// concurrent fetches of a file near the size cap hold N times the cap.
// Fetches beyond it wait their turn (as long as their context allows).
type Budget struct {
	sem   *semaphore.Weighted
	size  int64
	inUse atomic.Int64
}

// InUse is the number of bytes reserved now.
func (b *Budget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.inUse.Load()
}

// NewBudget returns a budget of size bytes; size <= 0 means no budget (nil).
func NewBudget(size int64) *Budget {
	if size <= 0 {
		return nil
	}
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// reserve waits for room for a body of the announced length (< 0: unknown,
// then maxBytes, the most it can be). A single body larger than the whole
// budget reserves the whole budget, so that it waits for the others rather
// than forever.
func (b *Budget) reserve(ctx context.Context, length, maxBytes int64) (int64, error) {
	if b == nil || length == 0 {
		return 0, nil
	}
	n := length
	if n < 0 {
		n = maxBytes
	}
	if n <= 0 || n > b.size {
		n = b.size
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	b.inUse.Add(n)
	return n, nil
}

func (b *Budget) release(n int64) {
	if b != nil && n > 0 {
		b.inUse.Add(-n)
		b.sem.Release(n)
	}
}

// keep shrinks a reservation of held bytes to the size actually read and
// returns the function that gives that back.
func (b *Budget) keep(held, size int64) func() {
	if b == nil {
		return func() {}
	}
	if size < held {
		b.release(held - size)
		held = size
	}
	var once sync.Once
	return func() { once.Do(func() { b.release(held) }) }
}
