-- Leases that name their holder. Every running process that uploads or makes thumbnails
-- registers here as a holder and heartbeats; a pending thumbnail row names the holder of
-- its lease. A holder judged dead (its heartbeat too old, or on the same machine its
-- process gone) is deleted, and the rows naming it may be claimed at once instead of
-- after their lease lapses. No foreign key: a row naming a holder that is not here is
-- exactly what "its holder is dead" means. Rows from before this migration name no
-- holder and keep the lease rule.

CREATE TABLE work_holders (
    id           UUID PRIMARY KEY,
    -- The machine and PID namespace, the process id and its start time, so that a process
    -- on the same machine can tell whether the holder's process still runs; NULL where
    -- the holder could not tell (judged by its heartbeat alone).
    machine      TEXT,
    pid          BIGINT,
    started      BIGINT,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE thumbnails ADD COLUMN lease_holder UUID;
