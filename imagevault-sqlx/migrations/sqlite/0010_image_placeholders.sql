-- Each image's placeholder, which pages show while its thumbnails load: the ThumbHash bytes
-- (5 to 25) and the average colour as `#rrggbb`. The worker sets both at once when it makes
-- the thumbnails; both stay NULL until then, for images whose thumbnails were made before
-- this migration too, until they are made again (`thumbnails regenerate`). SQLite cannot add
-- a check across the two columns to an existing table; reads refuse a row with only one.
ALTER TABLE images ADD COLUMN placeholder BLOB
    CHECK (placeholder IS NULL OR (typeof(placeholder) = 'blob' AND length(placeholder) BETWEEN 5 AND 25));
ALTER TABLE images ADD COLUMN average_color TEXT
    CHECK (average_color IS NULL OR (length(average_color) = 7 AND average_color GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'));
