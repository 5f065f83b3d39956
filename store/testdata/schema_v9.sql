-- Parley's whole SQLite schema at the newest version. A fresh database is made
-- from this file; an older one is brought here by the ordered steps in
-- store/migrations.go (a test checks that both roads end at the same schema).
-- Times are INTEGER unix milliseconds (UTC). Every table but tenants carries
-- tenant_id, and every index that serves a list starts with it.

CREATE TABLE IF NOT EXISTS tenants (
  id                    TEXT PRIMARY KEY,
  name                  TEXT NOT NULL,
  postback_secret       TEXT NOT NULL,
  last_event_seq        INTEGER NOT NULL DEFAULT 0, -- the per-tenant event id counter
  events_pruned_through INTEGER NOT NULL DEFAULT 0, -- highest event id removed by retention
  created_at            INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name       TEXT NOT NULL DEFAULT '',
  key_hash   BLOB NOT NULL UNIQUE, -- SHA-256 of the key; the key itself is never stored
  prefix     TEXT NOT NULL,        -- the first characters, to recognise a key in a list
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys(tenant_id, created_at);

CREATE TABLE IF NOT EXISTS assistants (
  id                        TEXT PRIMARY KEY,
  tenant_id                 TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name                      TEXT NOT NULL,
  description               TEXT NOT NULL DEFAULT '',
  presentation              TEXT NOT NULL DEFAULT '',
  system_prompt             TEXT NOT NULL DEFAULT '',
  model                     TEXT NOT NULL DEFAULT '',
  temperature               REAL,
  history_limit             INTEGER NOT NULL DEFAULT 20,
  debounce_seconds          REAL NOT NULL DEFAULT 5,
  debounce_max_wait_seconds REAL NOT NULL DEFAULT 30,
  pause_on_human            INTEGER NOT NULL DEFAULT 1,
  is_default                INTEGER NOT NULL DEFAULT 0,
  created_at                INTEGER NOT NULL,
  updated_at                INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS assistants_by_tenant ON assistants(tenant_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS assistants_one_default ON assistants(tenant_id) WHERE is_default = 1;

CREATE TABLE IF NOT EXISTS channels (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  type         TEXT NOT NULL,
  assistant_id TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  -- Version 9: every tenant has one default channel (type api), where
  -- messages that name no channel go; it cannot be deleted.
  is_default   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS channels_by_tenant ON channels(tenant_id, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS channels_one_default ON channels(tenant_id) WHERE is_default = 1;

CREATE TABLE IF NOT EXISTS leads (
  tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id         TEXT NOT NULL, -- generated, or the integrator's own (a WhatsApp JID, say)
  name       TEXT,
  phone      TEXT,
  email      TEXT,
  company    TEXT,
  meta       TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS leads_phone ON leads(tenant_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX IF NOT EXISTS leads_by_created ON leads(tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS leads_email ON leads(tenant_id, email) WHERE email IS NOT NULL;

CREATE TABLE IF NOT EXISTS conversations (
  pk                   INTEGER PRIMARY KEY, -- a stable rowid (VACUUM keeps it): the search index's key
  id                   TEXT NOT NULL UNIQUE,
  tenant_id            TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  lead_id              TEXT NOT NULL,
  channel_id           TEXT,
  assistant_id         TEXT NOT NULL,
  -- thread_key says what identifies an active conversation of the lead:
  -- 'c:<channel>' or 'a:<assistant>' (Leavo), 'e:<id>' (one per EvaGPT create).
  thread_key           TEXT NOT NULL,
  status               TEXT NOT NULL DEFAULT 'active',
  is_ai_active         INTEGER NOT NULL DEFAULT 1,
  unread_count         INTEGER NOT NULL DEFAULT 0,
  meta                 TEXT NOT NULL DEFAULT '{}',
  survey               INTEGER NOT NULL DEFAULT 0,
  survey_comment       TEXT NOT NULL DEFAULT '',
  last_message_content TEXT,
  last_message_role    TEXT,
  last_message_at      INTEGER,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL -- last activity: the list's order
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_active_thread
  ON conversations(tenant_id, lead_id, thread_key) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS conversations_by_activity ON conversations(tenant_id, updated_at, id);
-- Only the activity and status indexes hold updated_at: every message moves
-- its conversation in each index that does (a delete and an insert, two
-- pages to write), so the lead, channel and assistant indexes leave it out
-- (version 6). A lead has few conversations to sort; for channel and
-- assistant filters ListConversations picks the cheaper of sorting the
-- matches and walking the activity order.
CREATE INDEX IF NOT EXISTS conversations_by_lead ON conversations(tenant_id, lead_id);
CREATE INDEX IF NOT EXISTS conversations_by_channel ON conversations(tenant_id, channel_id);
CREATE INDEX IF NOT EXISTS conversations_by_assistant ON conversations(tenant_id, assistant_id);
CREATE INDEX IF NOT EXISTS conversations_by_status ON conversations(tenant_id, status, updated_at, id);
CREATE INDEX IF NOT EXISTS conversations_by_created ON conversations(tenant_id, created_at, id);

CREATE TABLE IF NOT EXISTS messages (
  pk               INTEGER PRIMARY KEY, -- a stable rowid (VACUUM keeps it): the search index's key
  id               TEXT NOT NULL UNIQUE, -- UUIDv7: time ordered
  tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  conversation_id  TEXT NOT NULL,
  lead_id          TEXT NOT NULL,
  channel_id       TEXT,
  role             TEXT NOT NULL,
  content          TEXT NOT NULL DEFAULT '',
  message_type     TEXT NOT NULL DEFAULT 'text',
  url              TEXT,
  extracted_text   TEXT,
  status           TEXT NOT NULL,
  feedback         TEXT,
  feedback_comment TEXT,
  external_id      TEXT,
  created_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(tenant_id, conversation_id, created_at, id);
CREATE INDEX IF NOT EXISTS messages_by_lead ON messages(tenant_id, lead_id, created_at, id);
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages(tenant_id, channel_id, created_at, id);

-- events is the replayable log behind the SSE streams. seq is per tenant and
-- follows commit order (see DESIGN.md §3); payload is the frame's JSON line.
CREATE TABLE IF NOT EXISTS events (
  tenant_id       TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  type            TEXT NOT NULL,
  conversation_id TEXT NOT NULL DEFAULT '',
  lead_id         TEXT NOT NULL DEFAULT '',
  channel_id      TEXT NOT NULL DEFAULT '',
  payload         TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_age ON events(created_at);

-- idempotency remembers /ai/process requests by the gateway's external_id or
-- an Idempotency-Key header for 24 h: the message they stored and, once the
-- turn finished, the response to send again. (version 2)
CREATE TABLE IF NOT EXISTS idempotency (
  tenant_id   TEXT NOT NULL,
  key         TEXT NOT NULL,
  message_id  TEXT NOT NULL,
  status_code INTEGER,
  response    TEXT,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency(created_at);

-- batches are the pending debounce windows, one per conversation (version 3).
-- version grows with every message, so a draft composed for an older version
-- is dropped (a newer message arrived while the AI was composing).
CREATE TABLE IF NOT EXISTS batches (
  tenant_id       TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  lead_id         TEXT NOT NULL,
  channel_id      TEXT NOT NULL DEFAULT '',
  message_ids     TEXT NOT NULL DEFAULT '[]',
  version         INTEGER NOT NULL DEFAULT 1,
  postback_url    TEXT NOT NULL,
  first_at        INTEGER NOT NULL,
  deadline        INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id)
) WITHOUT ROWID;

-- webhooks are the tenant's subscriptions to events (version 3).
CREATE TABLE IF NOT EXISTS webhooks (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  url        TEXT NOT NULL,
  events     TEXT NOT NULL DEFAULT '[]',
  active     INTEGER NOT NULL DEFAULT 1,
  secret     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_tenant ON webhooks(tenant_id, created_at, id);

-- deliveries is the outbox: every postback and webhook POST, written in the
-- transaction of the fact it reports (version 3). destination is the tenant
-- id and scheme://host:port. Version 8: order is kept per order_key within a
-- destination ('c:' and a conversation id, or 'l:' and a lead id for lead.*
-- events), in rowid order, which is commit order (one writer). head marks
-- the oldest pending row of each key, the only one that may be sent, so that
-- the worker finds due keys in deliveries_heads (at most one entry per key)
-- without reading the rows queued behind a head.
CREATE TABLE IF NOT EXISTS deliveries (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL,
  kind             TEXT NOT NULL,
  webhook_id       TEXT,
  url              TEXT NOT NULL,
  destination      TEXT NOT NULL,
  event            TEXT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL DEFAULT 'pending',
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  last_error       TEXT,
  next_attempt_at  INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  delivered_at     INTEGER,
  order_key        TEXT NOT NULL DEFAULT '',
  head             INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_keys ON deliveries(destination, order_key) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_heads ON deliveries(destination, next_attempt_at) WHERE status = 'pending' AND head = 1;
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_by_tenant ON deliveries(tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(tenant_id, status, created_at, id);

-- Full-text search for GET /conversation (version 4). Trigram tokens give
-- substring matches (like LIKE '%x%') from an index. conversation_search
-- holds what identifies a conversation (its id, its lead's id, name, phone
-- and email) and its meta values, kept current by the store in the write
-- transactions that change them; messages_search follows messages (see
-- version 5 below for how new ones are indexed).
CREATE VIRTUAL TABLE IF NOT EXISTS conversation_search USING fts5(
  ident, meta, content = '', contentless_delete = 1, tokenize = 'trigram remove_diacritics 1');
CREATE VIRTUAL TABLE IF NOT EXISTS messages_search USING fts5(
  body, content = '', contentless_delete = 1, tokenize = 'trigram remove_diacritics 1');
CREATE TRIGGER IF NOT EXISTS messages_search_update AFTER UPDATE OF content, extracted_text ON messages BEGIN
  INSERT OR REPLACE INTO messages_search (rowid, body) VALUES (new.rowid, new.content || ' ' || coalesce(new.extracted_text, ''));
END;
CREATE TRIGGER IF NOT EXISTS messages_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_search WHERE rowid = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS conversation_search_delete AFTER DELETE ON conversations BEGIN
  DELETE FROM conversation_search WHERE rowid = old.rowid;
END;

-- Version 5: new messages are indexed for search in batches, not by an insert
-- trigger: FTS5 flushes its pending index at every statement that writes to
-- it, which made each message insert write and merge index segments (a
-- sixth of a send's CPU). search_state records how far the batches got;
-- searches catch up first, so they never miss a stored message.
DROP TRIGGER IF EXISTS messages_search_insert;
--
-- Version 6: new conversations are indexed the same way (their insert used
-- to index them, and FTS5 then flushed at every later statement of the
-- group commit). Lead and meta changes still re-index in their transaction.
CREATE TABLE IF NOT EXISTS search_state (
  id                       INTEGER PRIMARY KEY CHECK (id = 1),
  messages_indexed_through INTEGER NOT NULL, -- messages.pk
  conversations_indexed_through INTEGER NOT NULL DEFAULT 0 -- conversations.pk (version 6)
);
INSERT OR IGNORE INTO search_state (id, messages_indexed_through) VALUES (1, 0);

-- Version 7: when the server is idle, the store merges each search index's
-- segments two to a level (FTS5's 'merge' command with usermerge=2; see
-- store/tidy.go), so that a lookup reads a term's doclist from few segments.
INSERT INTO conversation_search (conversation_search, rank) VALUES ('usermerge', 2);
INSERT INTO messages_search (messages_search, rank) VALUES ('usermerge', 2);
