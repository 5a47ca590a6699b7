-- 0003_session_events: what happened inside audited sessions (SSH logins,
-- programs started, forwards, exits), as reported by the agent serving each.
--
-- Portable like 0001: TEXT and BIGINT only, no AUTOINCREMENT. seq numbers a
-- session's events 1, 2, ... in the order they were added; the store
-- computes it inside the writing transaction, and (occurred_at, seq) orders
-- a session's events. The primary key is also the index by session_id.
-- There is no foreign key to sessions: start rows and events are written by
-- separate statements of the audit batch, and an event must not be lost
-- because its session's start row failed to write. exit_status is NULL
-- except on exits. Text is bounded by the store (store.SessionEvent.Clean):
-- kind and login 256 bytes, detail 4 KiB.

CREATE TABLE session_events (
    session_id  TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    login       TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    exit_status BIGINT,
    PRIMARY KEY (session_id, seq)
);
