-- The SHA-256 of each original's bytes (64 lowercase hex digits), so that a bulk import
-- (`admin import`) can skip files their owner already has. NULL for images stored before
-- this migration: they are never matched, so importing one of them again stores a copy.
-- Looked up by owner and digest; images without a digest stay out of the index.
ALTER TABLE images ADD COLUMN digest text;
CREATE INDEX images_owner_digest ON images (owner, digest) WHERE digest IS NOT NULL;
