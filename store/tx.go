package store

import "context"

// Tx is one write of a tenant, for a caller to compose from the primitives
// below: the turn pipeline stores a message, remembers the request's
// idempotency key, opens its debounce batch and records the response it
// owes in one transaction, so a crash leaves all of them or none. How the
// transaction commits (SQLite's group commit, PostgreSQL's grouped
// transactions and event counter) stays below this line.
type Tx struct {
	ctx context.Context
	w   *wtx
}

// Write runs fn as one transaction of the tenant. about names the lead (or
// conversation) the write is about, "" for none: on PostgreSQL, writes about
// one lead keep their order and writes about different ones may commit in
// parallel (pggroup.go). fn may run more than once (a group that failed for
// another write's sake runs again), so it must only keep what its last run
// returned. Events, webhooks and caches follow the commit.
func (t *Tenant) Write(ctx context.Context, about string, fn func(*Tx) error) error {
	return t.s.writeAbout(ctx, t.id, about, func(w *wtx) error {
		return fn(&Tx{ctx: ctx, w: w})
	})
}

// AddMessage stores a message as Tenant.AddMessage does.
func (tx *Tx) AddMessage(in MessageInput) (Stored, error) {
	return addMessage(tx.ctx, tx.w, in)
}

// RememberKey records that the request with idempotency key made message
// messageID. A live record of the key fails with ErrConflict.
func (tx *Tx) RememberKey(key, messageID string) error {
	return rememberKey(tx.ctx, tx.w, key, messageID)
}

// FinishKey stores the response (status and body) of the keyed request, to
// be replayed to its retries.
func (tx *Tx) FinishKey(key string, status int, response []byte) error {
	return finishKey(tx.ctx, tx.w, key, status, response)
}

// AddToBatch opens or extends the debounce batch of the stored message's
// conversation (a sliding window of the assistant's debounce_seconds, never
// past the first message plus debounce_max_wait_seconds).
func (tx *Tx) AddToBatch(st Stored, in BatchInput) (Batch, error) {
	return addToBatch(tx.ctx, tx.w, st.Conversation, st.Message, &in)
}

// DropBatch removes the conversation's batch, if any.
func (tx *Tx) DropBatch(conversationID string) error {
	return dropBatch(tx.ctx, tx.w, conversationID)
}
