-- Issue 28: a cluster is polled (a scan job lists it every interval) or watched
-- (informers keep a cache; a change is recorded within seconds, and a full list
-- still runs as a safety net). A scan records how it was made: kind 'poll' for a
-- listing, 'watch' for a snapshot of a watch's cache. A watch snapshot that changed
-- nothing replaces the unchanged one before it (snapshots counts them), so the
-- table grows with changes, not with churn.
ALTER TABLE clusters ADD COLUMN scan_mode text NOT NULL DEFAULT 'poll'
    CHECK (scan_mode IN ('poll', 'watch'));
ALTER TABLE scans
    ADD COLUMN kind text NOT NULL DEFAULT 'poll' CHECK (kind IN ('poll', 'watch')),
    ADD COLUMN snapshots integer NOT NULL DEFAULT 1,
    ADD COLUMN changed boolean NOT NULL DEFAULT true;
