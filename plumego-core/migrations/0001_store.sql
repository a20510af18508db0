-- Plumego store schema, version 1: KV entries and idempotency records.
-- Applied by PostgresStore::migrate(), inside a transaction holding an
-- advisory lock, and recorded in plumego_schema_migrations.
--
-- Keys use the "C" collation so that ordering and range scans are byte order,
-- the same as every other Plumego store engine. `namespace` is the
-- application's prefix: several applications can share the tables.

CREATE TABLE IF NOT EXISTS plumego_kv (
    namespace   TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    value       BYTEA NOT NULL,
    -- NULL: never expires.
    expires_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, key)
);

CREATE INDEX IF NOT EXISTS plumego_kv_expires_at
    ON plumego_kv (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS plumego_idempotency (
    namespace    TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    request_hash TEXT NOT NULL CHECK (btrim(request_hash) <> ''),
    status       TEXT NOT NULL CHECK (status IN ('in_progress', 'completed')),
    response     BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, key),
    CHECK (expires_at >= created_at)
);

CREATE INDEX IF NOT EXISTS plumego_idempotency_expires_at
    ON plumego_idempotency (expires_at);
