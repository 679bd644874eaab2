-- Originals without private metadata. A plan may have uploads lose their EXIF (all but
-- the orientation), XMP, IPTC, comments and text chunks before the original is stored;
-- existing plans keep storing uploads as they are.
ALTER TABLE plans ADD COLUMN strip_metadata boolean NOT NULL DEFAULT false;
-- What was removed from each image's upload: the kinds' names separated by spaces
-- ('' when there was nothing to remove), NULL when the upload was stored as it came,
-- as every image stored before this migration was.
ALTER TABLE images ADD COLUMN metadata_removed text;
