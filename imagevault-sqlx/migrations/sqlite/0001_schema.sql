-- The imagevault schema and the three built-in plans (the same rows as `Plan::builtin()`).
--
-- STRICT tables, so a value of the wrong type is an error instead of being stored as is.
-- UUIDs are 16-byte BLOBs (they compare bytewise, like `uuid::Uuid`); timestamps are
-- INTEGER microseconds since the Unix epoch (exact, and they sort in time order);
-- booleans are 0 or 1; a plan's heights are a JSON array of integers, ascending.

CREATE TABLE plans (
    id                BLOB    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    thumbnail_heights TEXT    NOT NULL CHECK (json_valid(thumbnail_heights)),
    original_link     INTEGER NOT NULL,
    expiring_links    INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX plans_keyset ON plans (created_at DESC, id DESC);

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL,
    -- A plan in use cannot be deleted: the API answers 409. The default action (NO
    -- ACTION) rather than RESTRICT, which SQLite reports as a trigger failure instead of a
    -- foreign key violation; with immediate constraints the two refuse the same deletes.
    plan_id       BLOB    REFERENCES plans (id),
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX users_keyset ON users (created_at DESC, id DESC);
CREATE INDEX users_plan ON users (plan_id);

CREATE TABLE api_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE images (
    id          BLOB    NOT NULL PRIMARY KEY,
    owner       BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    format      TEXT    NOT NULL CHECK (format IN ('png', 'jpeg')),
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    storage_key TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
-- A page of a user's images is one range scan of this index.
CREATE INDEX images_keyset ON images (owner, created_at DESC, id DESC);
CREATE INDEX images_storage_key ON images (storage_key);

CREATE TABLE thumbnails (
    image_id    BLOB    NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    max_height  INTEGER NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    storage_key TEXT,
    attempts    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (image_id, max_height)
) STRICT, WITHOUT ROWID;
CREATE INDEX thumbnails_storage_key ON thumbnails (storage_key) WHERE storage_key IS NOT NULL;

CREATE TABLE links (
    id             BLOB    NOT NULL PRIMARY KEY,
    owner          BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_id       BLOB    NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    format         TEXT    NOT NULL CHECK (format IN ('png', 'jpeg')),
    key_dir        BLOB    NOT NULL,
    key_file       BLOB    NOT NULL,
    expiry_seconds INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX links_key ON links (key_dir, key_file);
CREATE INDEX links_keyset ON links (owner, created_at DESC, id DESC);
CREATE INDEX links_image ON links (image_id);

INSERT INTO plans (id, name, thumbnail_heights, original_link, expiring_links, created_at) VALUES
    (X'0000000000007000800000000000b001', 'Basic',      '[200]',     0, 0, 0),
    (X'0000000000007000800000000000b002', 'Premium',    '[200,400]', 1, 0, 0),
    (X'0000000000007000800000000000b003', 'Enterprise', '[200,400]', 1, 1, 0);
