-- The imagevault schema and the three built-in plans (the same rows as `Plan::builtin()`).
--
-- Timestamps are `timestamptz` (microsecond precision, as the service produces them).
-- Pixel sizes, byte sizes and attempt counts are `bigint`, so every `u32`/`u64` field of
-- the domain fits without wrapping.

CREATE TABLE plans (
    id                uuid        PRIMARY KEY,
    name              text        NOT NULL UNIQUE,
    -- Ascending, unique, 1 to 16 heights: validated by the domain before it gets here.
    thumbnail_heights integer[]   NOT NULL,
    original_link     boolean     NOT NULL,
    expiring_links    boolean     NOT NULL,
    created_at        timestamptz NOT NULL
);
CREATE INDEX plans_keyset ON plans (created_at DESC, id DESC);

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    is_admin      boolean     NOT NULL,
    -- A plan in use cannot be deleted: the API answers 409.
    plan_id       uuid        REFERENCES plans (id) ON DELETE RESTRICT,
    created_at    timestamptz NOT NULL
);
CREATE INDEX users_keyset ON users (created_at DESC, id DESC);
CREATE INDEX users_plan ON users (plan_id);

CREATE TABLE api_tokens (
    hash       bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE images (
    id          uuid        PRIMARY KEY,
    owner       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    format      text        NOT NULL CHECK (format IN ('png', 'jpeg')),
    width       bigint      NOT NULL,
    height      bigint      NOT NULL,
    size        bigint      NOT NULL,
    storage_key text        NOT NULL,
    created_at  timestamptz NOT NULL
);
-- A page of a user's images is one range scan of this index.
CREATE INDEX images_keyset ON images (owner, created_at DESC, id DESC);
CREATE INDEX images_storage_key ON images (storage_key);

CREATE TABLE thumbnails (
    image_id    uuid        NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    max_height  bigint      NOT NULL,
    width       bigint      NOT NULL,
    height      bigint      NOT NULL,
    status      text        NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    storage_key text,
    attempts    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (image_id, max_height)
);
CREATE INDEX thumbnails_storage_key ON thumbnails (storage_key) WHERE storage_key IS NOT NULL;

CREATE TABLE links (
    id             uuid        PRIMARY KEY,
    owner          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_id       uuid        NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    format         text        NOT NULL CHECK (format IN ('png', 'jpeg')),
    key_dir        uuid        NOT NULL,
    key_file       uuid        NOT NULL,
    expiry_seconds bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX links_key ON links (key_dir, key_file);
CREATE INDEX links_keyset ON links (owner, created_at DESC, id DESC);
CREATE INDEX links_image ON links (image_id);

INSERT INTO plans (id, name, thumbnail_heights, original_link, expiring_links, created_at) VALUES
    ('00000000-0000-7000-8000-00000000b001', 'Basic',      '{200}',     false, false, '1970-01-01 00:00:00+00'),
    ('00000000-0000-7000-8000-00000000b002', 'Premium',    '{200,400}', true,  false, '1970-01-01 00:00:00+00'),
    ('00000000-0000-7000-8000-00000000b003', 'Enterprise', '{200,400}', true,  true,  '1970-01-01 00:00:00+00');
