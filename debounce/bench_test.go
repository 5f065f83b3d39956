package debounce

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks run the real loop with RealClock; pending deadlines are an
// hour away, so the loop sleeps unless a benchmark makes keys due.

var benchSizes = []struct {
	name string
	n    int
}{{"keys=100k", 100_000}, {"keys=1M", 1_000_000}}

var (
	keyPoolMu sync.Mutex
	keyPools  = map[string][]string{}
)

// benchKeys returns n distinct keys shaped like conversation IDs, built once
// per prefix and size so that key construction stays out of the timings.
func benchKeys(prefix string, n int) []string {
	keyPoolMu.Lock()
	defer keyPoolMu.Unlock()
	id := prefix + "/" + strconv.Itoa(n)
	if keys, ok := keyPools[id]; ok {
		return keys
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%016x", prefix, rand.Uint64())
	}
	keyPools[id] = keys
	return keys
}

// offsets returns n pseudo-random offsets in [0, span).
func offsets(n int, span time.Duration, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, seed))
	offs := make([]time.Duration, n)
	for i := range offs {
		offs[i] = time.Duration(r.Int64N(int64(span)))
	}
	return offs
}

// filled returns a started Scheduler holding keys, with deadlines an hour
// or more ahead.
func filled(keys []string, offs []time.Duration) (*Scheduler, time.Time) {
	s := New(nil, func(string) {})
	s.Start()
	t0 := time.Now().Add(time.Hour)
	for i, k := range keys {
		s.Schedule(k, t0.Add(offs[i]))
	}
	return s, t0
}

// BenchmarkScheduleInsert adds new keys to a scheduler holding between n
// and 2n keys. B/op and allocs/op are amortised heap-slice and map growth.
func BenchmarkScheduleInsert(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			keys, extra := benchKeys("conv-", size.n), benchKeys("new-", size.n)
			offs := offsets(size.n, time.Minute, 1)
			s, t0 := filled(keys, offs)
			j := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if j == len(extra) {
					b.StopTimer()
					s.Close()
					s, t0 = filled(keys, offs)
					j = 0
					b.StartTimer()
				}
				s.Schedule(extra[j], t0.Add(offs[len(offs)-1-j]))
				j++
			}
			b.StopTimer()
			s.Close()
		})
	}
}

// BenchmarkScheduleMove reschedules existing keys of a scheduler holding n
// keys to random deadlines, earlier or later. It should not allocate.
func BenchmarkScheduleMove(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			keys := benchKeys("conv-", size.n)
			s, t0 := filled(keys, offsets(size.n, time.Minute, 1))
			defer s.Close()
			const mask = 1<<16 - 1
			r := rand.New(rand.NewPCG(2, 2))
			idx, offs := make([]int, mask+1), offsets(mask+1, time.Minute, 3)
			for i := range idx {
				idx[i] = r.IntN(size.n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.Schedule(keys[idx[i&mask]], t0.Add(offs[i&mask]))
			}
		})
	}
}

// BenchmarkFire measures how fast the loop drains keys that are all
// overdue: pop, OnFire and due per key, from a heap of n keys. Each round
// schedules n overdue keys before Start (untimed) and times draining them.
func BenchmarkFire(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			keys := benchKeys("conv-", size.n)
			offs := offsets(size.n, time.Minute, 4)
			b.ReportAllocs()
			b.ResetTimer()
			for left := b.N; left > 0; {
				n := min(left, size.n)
				left -= n
				b.StopTimer()
				var fired atomic.Int64
				done := make(chan struct{})
				s := New(nil, func(string) {
					if fired.Add(1) == int64(n) {
						close(done)
					}
				})
				s.OnFire = func(string, time.Duration) {}
				past := time.Now().Add(-time.Hour)
				for i, k := range keys[:n] {
					s.Schedule(k, past.Add(offs[i]))
				}
				b.StartTimer()
				s.Start()
				<-done
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkBytesPerKey reports the live heap held per pending key (heap
// slice plus index map), measured as the growth of HeapAlloc across
// inserting n keys into a new scheduler. The key strings belong to the
// caller and are not copied, so they are not counted.
func BenchmarkBytesPerKey(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			keys := benchKeys("conv-", size.n)
			offs := offsets(size.n, time.Minute, 5)
			t0 := time.Now().Add(time.Hour)
			var perKey float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := New(nil, func(string) {})
				for i, k := range keys {
					s.Schedule(k, t0.Add(offs[i]))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(size.n)
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
}

// BenchmarkLateness schedules 10,000 keys to fall due within one second on
// the real clock and reports percentiles of the lateness passed to OnFire.
// "spread=1s" spaces the deadlines evenly over the second; "spread=0" makes
// them all due at the same instant, so lateness there is drain time. One
// op takes about a second; this reports, it does not assert.
func BenchmarkLateness(b *testing.B) {
	const n = 10_000
	for _, spread := range []time.Duration{time.Second, 0} {
		b.Run("spread="+spread.String(), func(b *testing.B) {
			keys := benchKeys("conv-", n)
			var all []time.Duration
			for range b.N {
				late := make([]time.Duration, 0, n)
				done := make(chan struct{})
				s := New(nil, func(string) {
					if len(late) == n {
						close(done)
					}
				})
				// OnFire and due both run on the loop goroutine; done
				// orders the appends before the read below.
				s.OnFire = func(_ string, l time.Duration) { late = append(late, l) }
				s.Start()
				start := time.Now().Add(100 * time.Millisecond)
				for i, k := range keys {
					s.Schedule(k, start.Add(spread*time.Duration(i)/n))
				}
				select {
				case <-done:
				case <-time.After(time.Minute):
					s.Close() // so that reading late is not a race
					b.Fatalf("only %d of %d keys fired within a minute", len(late), n)
				}
				s.Close()
				all = append(all, late...)
			}
			slices.Sort(all)
			pct := func(p float64) float64 {
				return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(0.50), "p50-lateness-ms")
			b.ReportMetric(pct(0.99), "p99-lateness-ms")
			b.ReportMetric(pct(1), "max-lateness-ms")
		})
	}
}
