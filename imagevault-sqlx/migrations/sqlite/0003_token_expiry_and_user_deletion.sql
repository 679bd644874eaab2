-- Tokens may expire: `expires_at` (microseconds, like every timestamp here) is NULL for a
-- token that works until it is revoked.
--
-- Deleting a user first locks the account (unusable password, tokens deleted) and marks it
-- with `deletion_requested_at`; the images are then deleted in the background and the row
-- last. The mark lets the reconciler finish a deletion that a crash cut short, from the
-- partial index below, and keeps `update_user` and `insert_token` off a locked account.

ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;

ALTER TABLE users ADD COLUMN deletion_requested_at INTEGER;
CREATE INDEX users_being_deleted ON users (deletion_requested_at, id)
    WHERE deletion_requested_at IS NOT NULL;
