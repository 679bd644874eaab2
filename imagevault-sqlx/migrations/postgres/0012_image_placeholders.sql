-- Each image's placeholder, which pages show while its thumbnails load: the ThumbHash bytes
-- (5 to 25) and the average colour as `#rrggbb`. The worker sets both at once when it makes
-- the thumbnails; both stay NULL until then, for images whose thumbnails were made before
-- this migration too, until they are made again (`thumbnails regenerate`).
ALTER TABLE images
    ADD COLUMN placeholder bytea
        CHECK (octet_length(placeholder) BETWEEN 5 AND 25),
    ADD COLUMN average_color text
        CHECK (average_color ~ '^#[0-9a-f]{6}$'),
    ADD CONSTRAINT images_placeholder_complete
        CHECK ((placeholder IS NULL) = (average_color IS NULL));
