-- Quotas. A plan may limit how many images each user keeps and the bytes of
-- their originals (the sum of `size`); NULL is unlimited. An administrator may override
-- either per user: NULL takes the plan's limit, -1 is unlimited whatever the plan says, a
-- number is the limit. The effective limit is the override, else the plan's.
ALTER TABLE plans ADD COLUMN max_images bigint CHECK (max_images >= 0);
ALTER TABLE plans ADD COLUMN max_bytes bigint CHECK (max_bytes >= 0);
ALTER TABLE users ADD COLUMN max_images bigint CHECK (max_images >= -1);
ALTER TABLE users ADD COLUMN max_bytes bigint CHECK (max_bytes >= -1);

-- What each user uses, kept beside the limits so that an upload reserves its place with
-- one conditional UPDATE of the owner's row in the transaction that inserts the image:
-- the row lock makes concurrent uploads take turns, so together they cannot pass a limit.
-- A deleted image gives its place back in the same transaction, by the trigger below,
-- whichever statement deletes it (one image, or all of a user's by cascade).
ALTER TABLE users ADD COLUMN image_count bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN image_bytes bigint NOT NULL DEFAULT 0;
UPDATE users u SET image_count = usage.images, image_bytes = usage.bytes
FROM (SELECT owner, count(*) AS images, sum(size) AS bytes FROM images GROUP BY owner) AS usage
WHERE usage.owner = u.id;

CREATE FUNCTION imagevault_release_quota() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET image_count = image_count - 1, image_bytes = image_bytes - OLD.size
    WHERE id = OLD.owner;
    RETURN NULL;
END
$$;

CREATE TRIGGER images_release_quota
    AFTER DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION imagevault_release_quota();

-- Every upload updates its owner's counters, which says nothing about the account a token
-- stands for: the account-change notification (0003) now fires only for the columns that
-- do, or every upload would empty every process's account cache.
DROP TRIGGER users_changed_accounts ON users;
CREATE TRIGGER users_changed_accounts
    AFTER UPDATE OF id, username, password_hash, is_admin, plan_id, created_at,
        deletion_requested_at, max_images, max_bytes
        OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION imagevault_notify_account_change();
