-- Quotas. A plan may limit how many images each user keeps and the bytes of
-- their originals (the sum of `size`); NULL is unlimited. An administrator may override
-- either per user: NULL takes the plan's limit, -1 is unlimited whatever the plan says, a
-- number is the limit. The effective limit is the override, else the plan's.
ALTER TABLE plans ADD COLUMN max_images INTEGER CHECK (max_images >= 0);
ALTER TABLE plans ADD COLUMN max_bytes INTEGER CHECK (max_bytes >= 0);
ALTER TABLE users ADD COLUMN max_images INTEGER CHECK (max_images >= -1);
ALTER TABLE users ADD COLUMN max_bytes INTEGER CHECK (max_bytes >= -1);

-- What each user uses, kept beside the limits so that an upload reserves its place with
-- one conditional UPDATE of the owner's row in the transaction that inserts the image
-- (SQLite's single writer, taken at BEGIN IMMEDIATE, makes concurrent uploads take turns).
-- A deleted image gives its place back in the same transaction, by the trigger below,
-- whichever statement deletes it (one image, or all of a user's by cascade).
ALTER TABLE users ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN image_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE users SET
    image_count = (SELECT count(*) FROM images WHERE images.owner = users.id),
    image_bytes = (SELECT coalesce(sum(size), 0) FROM images WHERE images.owner = users.id);

CREATE TRIGGER images_release_quota AFTER DELETE ON images
BEGIN
    UPDATE users SET image_count = image_count - 1, image_bytes = image_bytes - OLD.size
    WHERE id = OLD.owner;
END;
