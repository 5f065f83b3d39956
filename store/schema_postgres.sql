-- Parley's PostgreSQL schema, version 1: the tables and indexes of schema.sql
-- (SQLite's, version 9) table by table. migrate_postgres.go runs it once, in
-- the migration transaction, and then version 2 (the search indexes, which
-- need extensions that may not be available). Later versions are new steps
-- in migrate_postgres.go; this file is never edited once released.
--
-- Differences from schema.sql, and why:
-- * Times stay BIGINT unix milliseconds (UTC), as on SQLite: the Go code and
--   the API share one representation.
-- * Every tenant-owned table's primary key and unique constraints start with
--   tenant_id (DESIGN.md §5): a distributed PostgreSQL (Citus) can then shard
--   every table by tenant_id. tenants and api_keys are global (a key is found
--   by its hash before its tenant is known). The SQLite rowid keys
--   (conversations.pk, messages.pk) exist only for FTS5 and are not here.
-- * Identifiers and keys are COLLATE "C": byte order, as SQLite's BINARY, so
--   keyset pages ((created_at, id) > (…)) and skip scans give the same order
--   whatever the database's default collation (en_US sorts '-' apart).
-- * Search: conversation_search and messages.search_text in place of the
--   FTS5 tables (see below); version 2 indexes them with pg_trgm.
-- * Flags are BOOLEAN (the Go fields are bool); REAL becomes DOUBLE PRECISION
--   (PostgreSQL's REAL is 4 bytes and would round a temperature of 0.7).
-- * JSON columns (meta, payload, events, message_ids) stay TEXT, not JSONB:
--   they are returned byte for byte as written (JSONB reorders keys and drops
--   duplicates), and webhook payloads are signed, so the stored text must be
--   the sent text. Queries cast to jsonb where they look inside.

-- parley_schema records the schema version (one row) and how search works
-- on this database: 'trigram' (pg_trgm GIN indexes) or 'scan' (no indexes:
-- the extension could not be created). migrate_postgres.go creates it.

-- parley_fold(text), what search compares (text lower-cased, accents
-- removed), is made by migrate_postgres.go just before this file runs: its
-- body depends on what the server offers (pgFold).

CREATE TABLE tenants (
  id                    TEXT COLLATE "C" PRIMARY KEY,
  name                  TEXT NOT NULL,
  postback_secret       TEXT NOT NULL,
  -- the per-tenant event id counter, bumped by the last statement of each
  -- write transaction (events_postgres.go)
  last_event_seq        BIGINT NOT NULL DEFAULT 0,
  events_pruned_through BIGINT NOT NULL DEFAULT 0, -- highest event id removed by retention
  created_at            BIGINT NOT NULL
);

-- api_keys is global: authentication finds a key by its hash alone.
CREATE TABLE api_keys (
  id         TEXT COLLATE "C" PRIMARY KEY,
  tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name       TEXT NOT NULL DEFAULT '',
  key_hash   BYTEA NOT NULL UNIQUE, -- SHA-256 of the key; the key itself is never stored
  prefix     TEXT NOT NULL,         -- the first characters, to recognise a key in a list
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, created_at);

CREATE TABLE assistants (
  tenant_id                 TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id                        TEXT COLLATE "C" NOT NULL,
  name                      TEXT NOT NULL,
  description               TEXT NOT NULL DEFAULT '',
  presentation              TEXT NOT NULL DEFAULT '',
  system_prompt             TEXT NOT NULL DEFAULT '',
  model                     TEXT NOT NULL DEFAULT '',
  temperature               DOUBLE PRECISION,
  history_limit             INTEGER NOT NULL DEFAULT 20,
  debounce_seconds          DOUBLE PRECISION NOT NULL DEFAULT 5,
  debounce_max_wait_seconds DOUBLE PRECISION NOT NULL DEFAULT 30,
  pause_on_human            BOOLEAN NOT NULL DEFAULT TRUE,
  is_default                BOOLEAN NOT NULL DEFAULT FALSE,
  created_at                BIGINT NOT NULL,
  updated_at                BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX assistants_by_tenant ON assistants(tenant_id, created_at, id);
CREATE UNIQUE INDEX assistants_one_default ON assistants(tenant_id) WHERE is_default;

CREATE TABLE channels (
  tenant_id    TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id           TEXT COLLATE "C" NOT NULL,
  name         TEXT NOT NULL,
  type         TEXT NOT NULL,
  assistant_id TEXT COLLATE "C",
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  -- every tenant has one default channel (type api), where messages that
  -- name no channel go; it cannot be deleted.
  is_default   BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX channels_by_tenant ON channels(tenant_id, created_at, id);
CREATE UNIQUE INDEX channels_one_default ON channels(tenant_id) WHERE is_default;

CREATE TABLE leads (
  tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id         TEXT COLLATE "C" NOT NULL, -- generated, or the integrator's own (a WhatsApp JID, say)
  name       TEXT,
  phone      TEXT COLLATE "C",
  email      TEXT COLLATE "C",
  company    TEXT,
  meta       TEXT NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX leads_phone ON leads(tenant_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX leads_by_created ON leads(tenant_id, created_at, id);
CREATE INDEX leads_email ON leads(tenant_id, email) WHERE email IS NOT NULL;

CREATE TABLE conversations (
  tenant_id            TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id                   TEXT COLLATE "C" NOT NULL,
  lead_id              TEXT COLLATE "C" NOT NULL,
  channel_id           TEXT COLLATE "C",
  assistant_id         TEXT COLLATE "C" NOT NULL,
  -- thread_key says what identifies an active conversation of the lead:
  -- 'c:<channel>' or 'a:<assistant>' (Leavo), 'e:<id>' (one per EvaGPT create).
  thread_key           TEXT COLLATE "C" NOT NULL,
  status               TEXT COLLATE "C" NOT NULL DEFAULT 'active',
  is_ai_active         BOOLEAN NOT NULL DEFAULT TRUE,
  unread_count         INTEGER NOT NULL DEFAULT 0,
  meta                 TEXT NOT NULL DEFAULT '{}',
  survey               INTEGER NOT NULL DEFAULT 0,
  survey_comment       TEXT NOT NULL DEFAULT '',
  last_message_content TEXT,
  last_message_role    TEXT,
  last_message_at      BIGINT,
  created_at           BIGINT NOT NULL,
  updated_at           BIGINT NOT NULL, -- last activity: the list's order
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX conversations_active_thread
  ON conversations(tenant_id, lead_id, thread_key) WHERE status = 'active';
-- As on SQLite, only the activity and status indexes hold updated_at (every
-- message moves its conversation in each index that does).
CREATE INDEX conversations_by_activity ON conversations(tenant_id, updated_at, id);
CREATE INDEX conversations_by_lead ON conversations(tenant_id, lead_id);
CREATE INDEX conversations_by_channel ON conversations(tenant_id, channel_id);
CREATE INDEX conversations_by_assistant ON conversations(tenant_id, assistant_id);
CREATE INDEX conversations_by_status ON conversations(tenant_id, status, updated_at, id);
CREATE INDEX conversations_by_created ON conversations(tenant_id, created_at, id);

CREATE TABLE messages (
  tenant_id        TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id               TEXT COLLATE "C" NOT NULL, -- UUIDv7: time ordered
  conversation_id  TEXT COLLATE "C" NOT NULL,
  lead_id          TEXT COLLATE "C" NOT NULL,
  channel_id       TEXT COLLATE "C",
  role             TEXT NOT NULL,
  content          TEXT NOT NULL DEFAULT '',
  message_type     TEXT NOT NULL DEFAULT 'text',
  url              TEXT,
  extracted_text   TEXT,
  status           TEXT NOT NULL,
  feedback         TEXT,
  feedback_comment TEXT,
  external_id      TEXT,
  created_at       BIGINT NOT NULL,
  -- search_text is what message search matches: the body SQLite's
  -- messages_search holds, folded. Stored, so that a search (a scan without
  -- pg_trgm, or the recheck of a trigram index's candidates) reads it
  -- instead of folding every row again (1.7–43 µs a row, see pgFold): it
  -- costs a second copy of the text, which TOAST compresses.
  search_text      TEXT GENERATED ALWAYS AS (parley_fold(content || ' ' || coalesce(extracted_text, ''))) STORED,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX messages_by_conversation ON messages(tenant_id, conversation_id, created_at, id);
CREATE INDEX messages_by_lead ON messages(tenant_id, lead_id, created_at, id);
CREATE INDEX messages_by_channel ON messages(tenant_id, channel_id, created_at, id);

-- events is the replayable log behind the SSE streams. seq is per tenant, in
-- commit order with no holes: it comes from tenants.last_event_seq, bumped
-- by the last statement of the write transaction, whose row lock is held to
-- the commit (events_postgres.go). payload is the frame's JSON line.
CREATE TABLE events (
  tenant_id       TEXT COLLATE "C" NOT NULL,
  seq             BIGINT NOT NULL,
  type            TEXT NOT NULL,
  conversation_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  lead_id         TEXT COLLATE "C" NOT NULL DEFAULT '',
  channel_id      TEXT COLLATE "C" NOT NULL DEFAULT '',
  payload         TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX events_by_age ON events(created_at);

-- idempotency remembers /ai/process requests by the gateway's external_id or
-- an Idempotency-Key header for 24 h.
CREATE TABLE idempotency (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  key         TEXT COLLATE "C" NOT NULL,
  message_id  TEXT COLLATE "C" NOT NULL,
  status_code INTEGER,
  response    TEXT,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_by_age ON idempotency(created_at);

-- batches are the pending debounce windows, one per conversation. (The
-- cluster's lease columns come with the debounce slice of issue 16.)
CREATE TABLE batches (
  tenant_id       TEXT COLLATE "C" NOT NULL,
  conversation_id TEXT COLLATE "C" NOT NULL,
  lead_id         TEXT COLLATE "C" NOT NULL,
  channel_id      TEXT COLLATE "C" NOT NULL DEFAULT '',
  message_ids     TEXT NOT NULL DEFAULT '[]',
  version         INTEGER NOT NULL DEFAULT 1,
  postback_url    TEXT NOT NULL,
  first_at        BIGINT NOT NULL,
  deadline        BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id)
);

CREATE TABLE webhooks (
  tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id         TEXT COLLATE "C" NOT NULL,
  url        TEXT NOT NULL,
  events     TEXT NOT NULL DEFAULT '[]',
  active     BOOLEAN NOT NULL DEFAULT TRUE,
  secret     TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhooks_by_tenant ON webhooks(tenant_id, created_at, id);

-- deliveries is the outbox. On SQLite a key's rows are sent in rowid order,
-- which is commit order there (one writer). pos stands in for the rowid:
-- with concurrent writers an identity is drawn at insert, not at commit, so
-- the outbox slice must order a key's rows under a lock that serialises
-- the key's writers (the conversation's row, DESIGN.md §5) or by commit.
CREATE TABLE deliveries (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  pos              BIGINT GENERATED ALWAYS AS IDENTITY,
  kind             TEXT NOT NULL,
  webhook_id       TEXT COLLATE "C",
  url              TEXT NOT NULL,
  destination      TEXT COLLATE "C" NOT NULL,
  event            TEXT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT COLLATE "C" NOT NULL DEFAULT 'pending',
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  last_error       TEXT,
  next_attempt_at  BIGINT NOT NULL,
  created_at       BIGINT NOT NULL,
  delivered_at     BIGINT,
  order_key        TEXT COLLATE "C" NOT NULL DEFAULT '',
  head             BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (tenant_id, id)
);
-- The queue's partial indexes hold pending rows only: the worker's lookups
-- stay as small as the queue, however long the delivered history.
-- deliveries_keys ends with pos as SQLite's ends with the rowid (a key's
-- rows in queue order).
CREATE INDEX deliveries_keys ON deliveries(destination, order_key, pos) WHERE status = 'pending';
CREATE INDEX deliveries_heads ON deliveries(destination, next_attempt_at) WHERE status = 'pending' AND head;
CREATE INDEX deliveries_pending ON deliveries(created_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_tenant ON deliveries(tenant_id, created_at, id);
CREATE INDEX deliveries_by_status ON deliveries(tenant_id, status, created_at, id);
-- Retention deletes delivered rows oldest first, in batches: without this
-- index each batch would read the table from the start (SQLite walks it by
-- rowid instead, resuming where the last batch stopped).
CREATE INDEX deliveries_delivered ON deliveries(delivered_at) WHERE status = 'delivered';

-- conversation_search holds each conversation's search document, as SQLite's
-- conversation_search FTS5 table does: ident (its id, its lead's id, name,
-- phone and email) and meta (its meta's string and number leaves), both
-- already passed through parley_fold. It is a table of its own rather than
-- columns of conversations because every message updates its conversation
-- (updated_at is indexed, so no HOT update), and a trigram index there would
-- be rewritten for every message. The store writes it in the transactions
-- that change a conversation's lead or meta. Messages need no such table:
-- their search_text is a generated column, which follows inserts and
-- updates by itself.
CREATE TABLE conversation_search (
  tenant_id       TEXT COLLATE "C" NOT NULL,
  conversation_id TEXT COLLATE "C" NOT NULL,
  ident           TEXT NOT NULL DEFAULT '',
  meta            TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, conversation_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);
