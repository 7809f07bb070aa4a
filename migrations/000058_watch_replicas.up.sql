-- Issue 28: the serve replicas that run watches, so that clusters spread over them.
-- Each replica renews its row at every heartbeat (held while expires_at, by the
-- database's clock, is in the future) and takes at most its share of the watched
-- clusters: their number divided by the live replicas', rounded up.
CREATE TABLE watch_replicas (
    holder text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
