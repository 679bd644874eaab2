-- Tokens may expire: `expires_at` is NULL for a token that works until it is revoked.
--
-- Deleting a user first locks the account (unusable password, tokens deleted) and marks it
-- with `deletion_requested_at`; the images are then deleted in the background and the row
-- last. The mark lets the reconciler finish a deletion that a crash cut short, from the
-- partial index below, and keeps `update_user` and `insert_token` off a locked account.
--
-- The account-change triggers of 0003 already cover both steps: locking is an UPDATE of
-- `users` and a DELETE on `api_tokens`, revoking a user's tokens a DELETE on `api_tokens`,
-- and those statement triggers notify `imagevault_account_changes` on commit. An expiry
-- needs no notification: readers compare it with the clock, cached or not.

ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;

ALTER TABLE users ADD COLUMN deletion_requested_at timestamptz;
CREATE INDEX users_being_deleted ON users (deletion_requested_at, id)
    WHERE deletion_requested_at IS NOT NULL;
