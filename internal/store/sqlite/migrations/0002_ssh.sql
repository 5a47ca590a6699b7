-- 0002_ssh: SSH logins of tokens, agents' host keys, and the SSH CA keys.
--
-- Portable like 0001: TEXT and BIGINT only. Logins are a JSON array in
-- TEXT ('null' for none given); private keys are lower-case hex TEXT.

ALTER TABLE tokens ADD COLUMN logins TEXT NOT NULL DEFAULT 'null';

ALTER TABLE agents ADD COLUMN host_key TEXT NOT NULL DEFAULT '';

-- One row per CA key. The current key of a kind is the one not retired;
-- a retired key stays trusted until trusted_until (NULL: not at all).
-- Rotating with an overlap period retires the current key (setting both
-- times) and inserts its successor, which needs no schema change.
CREATE TABLE ca_keys (
    id            TEXT   NOT NULL PRIMARY KEY,
    kind          TEXT   NOT NULL,
    public_key    TEXT   NOT NULL,
    private_key   TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    trusted_until BIGINT
);

CREATE INDEX ca_keys_kind_idx ON ca_keys (kind, created_at);

-- At most one current key per kind: of two controllers creating the first
-- CA at once, the second insert fails and that controller reads the first.
CREATE UNIQUE INDEX ca_keys_current_idx ON ca_keys (kind) WHERE retired_at IS NULL;
