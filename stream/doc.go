// Package stream fans stored events out to SSE subscribers (API.md §2).
//
// The store hands every committed event to Broker.Publish, which queues a
// pointer to it, without blocking, on the bounded queue of each subscriber
// of the event's tenant whose filter matches. Each stream is served by its own
// goroutine through go-sse's Server, with our Broker behind it as the
// sse.Provider: it registers the subscription, writes the first frame
// (retry: 5000), replays from the events table after the client's
// Last-Event-ID, then goes live from its queue, skipping what the replay
// already sent.
//
// Why our own Provider and not go-sse's Joe: Joe writes to its subscribers in
// turn, so one stalled client (one that never reads) froze delivery to 100
// healthy ones once its socket buffers were full (DESIGN.md §3); its replayers
// keep ids in memory, so they are lost on restart, and silently skip ids that
// fell out of the buffer. Ours replays from the events table, whose per-tenant
// ids survive restarts, and evicts a subscriber whose buffer is full: its
// connection is made to fail at once, even mid-write, and the client
// reconnects with Last-Event-ID and loses nothing.
package stream
