// Package debounce keeps one pending deadline per key and calls a function
// when a key's deadline passes.
//
// Parley uses it to wait for a quiet window after a burst of messages: each
// new message in a conversation moves that conversation's deadline later,
// and the server answers only when the deadline fires. The package knows
// nothing of AI, HTTP or storage. Keys are opaque strings and persistence is
// the caller's job: on start-up the caller re-Schedules the keys it reloaded,
// and any that are already overdue fire at once.
//
// # Why one goroutine and one timer
//
// The obvious implementation is a time.AfterFunc per key. A Scheduler
// instead keeps a min-heap of (deadline, key) entries, a map from key to heap
// index, one goroutine and one timer set to the earliest deadline:
//
//   - Bounded goroutines. AfterFunc runs every callback on a goroutine of its
//     own, so 10,000 keys falling due together become 10,000 concurrent
//     callbacks. Here callbacks run one at a time, in deadline order, on the
//     loop goroutine, and the caller decides how much concurrency to add.
//   - No stale fires. Stopping or resetting an AfterFunc timer cannot stop
//     a callback that has already started, so per-key timers need
//     generation checks to avoid answering twice. Here a key leaves the heap
//     under the lock before its callback runs; it is either pending or
//     firing, never both.
//   - Deterministic tests. Time is read only through the Clock interface, so
//     tests drive the scheduler with a fake clock and never sleep.
//   - Cheap at 1M keys. A pending key costs one 24-byte heap entry and one
//     map entry. Moving an existing key is a map lookup and an O(log n) fix
//     of the heap, and it does not allocate.
//
// # Time
//
// Deadlines are stored as offsets from the moment New was called, as
// measured by the clock. With the real clock the offsets use Go's monotonic
// clock, as time.Until does: a deadline is turned into an offset when it is
// scheduled, and later steps of the wall clock do not move it. Deadlines
// more than about 292 years away from that moment are clamped.
package debounce
