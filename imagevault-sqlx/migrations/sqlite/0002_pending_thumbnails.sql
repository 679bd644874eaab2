-- The reconciler's frequent pass looks for pending thumbnail rows whose lease has lapsed
-- (work a lost job left behind). Pending rows are few at any time, so a partial index of
-- them keeps that pass proportional to the outstanding work instead of reading every image.

CREATE INDEX thumbnails_pending ON thumbnails (updated_at) WHERE status = 'pending';
