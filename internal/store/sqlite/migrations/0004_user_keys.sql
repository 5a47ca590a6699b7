-- 0004_user_keys: plain SSH public keys registered for gateway logins
-- (`burrow keys add`).
--
-- Portable like 0001: TEXT and BIGINT only. A key is bound to the token
-- that registered it (token_id; subject is that token's, for listing): a
-- login with the key is a login with the token, checked at each login, so
-- the key is useless once the token is revoked or expired. There is no
-- foreign key, like sessions: tokens are never deleted, only revoked. The
-- fingerprint (SHA256:...) is unique, so a key names exactly one token.

CREATE TABLE user_keys (
    id          TEXT   NOT NULL PRIMARY KEY,
    token_id    TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE INDEX user_keys_subject_idx ON user_keys (subject, created_at);
