-- A user can be disabled: a disabled user cannot sign in, and its sessions are deleted.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Web UI sessions. Only a SHA-256 of the session id is kept: the id is 32 random bytes,
-- so the stored hash cannot be turned back into a cookie that works. A session ends when
-- it has been idle or alive longer than the server's timeouts (checked on every read),
-- at sign-out, or when its user is disabled or deleted.
CREATE TABLE sessions (
    hash         bytea       PRIMARY KEY CHECK (length(hash) = 32),
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    remote_addr  text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
-- Expired sessions are swept by their last use.
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
