-- 0001_init: burrow's initial schema.
--
-- Kept portable to PostgreSQL: only TEXT and BIGINT columns, no
-- AUTOINCREMENT, no SQLite-only types or functions.
--   * times are BIGINT microseconds since the Unix epoch, UTC
--     (NULL where the Go field is a nil *time.Time);
--   * hashes are lower-case hex TEXT;
--   * agent labels and targets are JSON documents in TEXT columns.

CREATE TABLE tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    hash       TEXT   NOT NULL UNIQUE,
    subject    TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX tokens_subject_idx ON tokens (subject);
CREATE INDEX tokens_created_at_idx ON tokens (created_at);

CREATE TABLE join_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    hash       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_uses   BIGINT NOT NULL,
    uses       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE agents (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    os         TEXT   NOT NULL,
    arch       TEXT   NOT NULL,
    version    TEXT   NOT NULL,
    labels     TEXT   NOT NULL,
    targets    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

CREATE INDEX agents_name_idx ON agents (name);

CREATE TABLE sessions (
    id         TEXT   NOT NULL PRIMARY KEY,
    subject    TEXT   NOT NULL,
    token_id   TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    port       BIGINT NOT NULL,
    front_door TEXT   NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    bytes_up   BIGINT NOT NULL DEFAULT 0,
    bytes_down BIGINT NOT NULL DEFAULT 0,
    result     TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX sessions_started_at_idx ON sessions (started_at);

CREATE TABLE policies (
    target TEXT NOT NULL PRIMARY KEY,
    allow  TEXT NOT NULL,
    deny   TEXT NOT NULL
);
