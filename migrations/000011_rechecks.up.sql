-- References whose tag-divergence must be detected again. A scan that opens or closes
-- intervals of an unpinned reference, and the deletion of a cluster that ran one, queue
-- it here in the transaction that changes the intervals; the transaction that
-- reconciles its mutations removes it. A failure or a crash between the two leaves it
-- queued, for the next pass of any replica.
CREATE TABLE rechecks (
    ref       text PRIMARY KEY,
    queued_at timestamptz NOT NULL
);
CREATE INDEX rechecks_queued ON rechecks (queued_at);
