-- WebP thumbnails, opted into per plan.
--
-- `plans.thumbnail_formats`: the formats each thumbnail is made in, as the names the API
-- uses separated by commas (`original` or `original,webp`), validated by the domain
-- (`ThumbnailFormats`) before it gets here. Every existing plan, the built-in ones
-- included, keeps the original's format only.
ALTER TABLE plans ADD COLUMN thumbnail_formats text NOT NULL DEFAULT 'original';

-- `thumbnails.webp_storage_key`: where a thumbnail's WebP variant is stored, set by the
-- worker before the row turns ready when the owner's plan lists `webp`; NULL otherwise.
-- Looked up by key, as `storage_key` is, when the sweeper asks which objects are live.
ALTER TABLE thumbnails ADD COLUMN webp_storage_key text;
CREATE INDEX thumbnails_webp_storage_key ON thumbnails (webp_storage_key)
    WHERE webp_storage_key IS NOT NULL;
