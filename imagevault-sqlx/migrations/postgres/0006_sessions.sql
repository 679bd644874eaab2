-- Browser sessions: only the SHA-256 hash of the cookie's secret is stored, as for API
-- tokens. A session ends when it has been idle too long (`last_seen_at`) or at
-- `expires_at`, whichever comes first; the service decides, and the reconciler deletes
-- ended sessions by the two indexes below.
CREATE TABLE sessions (
    hash         bytea       PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
