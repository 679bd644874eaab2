-- Why a thumbnail failed, shown to administrators next to it (a short message, cut by the
-- service; NULL for rows that did not fail). Failed rows are few, so a partial index of
-- them answers the console's "failed thumbnails" list and "retry all failed" without
-- reading every image.
ALTER TABLE thumbnails ADD COLUMN failure TEXT;
CREATE INDEX thumbnails_failed ON thumbnails (image_id) WHERE status = 'failed';
