-- Change counters: SQLite's side of PostgreSQL's change notifications (postgres
-- migrations 0002, 0003, 0007 and 0009). SQLite cannot notify other processes, so every
-- change that can alter what an expiring link resolves to, or which account an API token
-- stands for, adds one to a counter in the same transaction, whichever process (or
-- `sqlite3` session) makes it. Each `SqliteRepo` polls the counters (see
-- `src/sqlite/change_feed.rs`) and moves its change feed when one has moved. Inserts are
-- left out, as on PostgreSQL: a missing link or token is never cached.
--
-- The counter `links` moves on what postgres 0002 notifies `imagevault_link_changes` for:
--   links      UPDATE (any column), DELETE
--   images     UPDATE OF owner, storage_key, format; DELETE
--   users      UPDATE OF plan_id; DELETE
--   plans      UPDATE (any column), DELETE
-- The counter `accounts` moves on what postgres 0003, as 0007 and 0009 narrowed it,
-- notifies `imagevault_account_changes` for:
--   api_tokens UPDATE OF hash, user_id, created_at, expires_at (not last_used_at); DELETE
--   users      UPDATE OF id, username, password_hash, is_admin, plan_id, created_at,
--              deletion_requested_at, max_images, max_bytes (not the usage counters
--              image_count and image_bytes, which every upload moves); DELETE
--   plans      UPDATE (any column), DELETE
--
-- SQLite has only row triggers: a statement changing n rows adds n, which tells the same.
-- Rows deleted by a foreign key's ON DELETE CASCADE fire their triggers too, and a DELETE
-- without WHERE on a table with triggers deletes row by row (no truncate shortcut).

CREATE TABLE change_counters (
    feed    TEXT    NOT NULL PRIMARY KEY CHECK (feed IN ('links', 'accounts')),
    changes INTEGER NOT NULL
) STRICT;
INSERT INTO change_counters (feed, changes) VALUES ('links', 0), ('accounts', 0);

CREATE TRIGGER links_updated_links AFTER UPDATE ON links
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;
CREATE TRIGGER links_deleted_links AFTER DELETE ON links
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;

CREATE TRIGGER images_updated_links AFTER UPDATE OF owner, storage_key, format ON images
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;
CREATE TRIGGER images_deleted_links AFTER DELETE ON images
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;

CREATE TRIGGER users_updated_links AFTER UPDATE OF plan_id ON users
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;
CREATE TRIGGER users_deleted_links AFTER DELETE ON users
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;

CREATE TRIGGER plans_updated_links AFTER UPDATE ON plans
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;
CREATE TRIGGER plans_deleted_links AFTER DELETE ON plans
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'links';
END;

CREATE TRIGGER api_tokens_updated_accounts
    AFTER UPDATE OF hash, user_id, created_at, expires_at ON api_tokens
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'accounts';
END;
CREATE TRIGGER api_tokens_deleted_accounts AFTER DELETE ON api_tokens
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'accounts';
END;

CREATE TRIGGER users_updated_accounts
    AFTER UPDATE OF id, username, password_hash, is_admin, plan_id, created_at,
        deletion_requested_at, max_images, max_bytes ON users
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'accounts';
END;
CREATE TRIGGER users_deleted_accounts AFTER DELETE ON users
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'accounts';
END;

CREATE TRIGGER plans_updated_accounts AFTER UPDATE ON plans
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'accounts';
END;
CREATE TRIGGER plans_deleted_accounts AFTER DELETE ON plans
BEGIN
    UPDATE change_counters SET changes = changes + 1 WHERE feed = 'accounts';
END;
