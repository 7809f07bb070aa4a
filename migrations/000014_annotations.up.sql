-- Annotation of ReplicaSets (issue 10). A scan records how many writes its annotation
-- step sent (NULL when annotation did not run) and why it failed, apart from the
-- scan's own status: a scan whose annotation failed still succeeded.
ALTER TABLE scans
    ADD COLUMN annotate_writes integer,
    ADD COLUMN annotate_error  text NOT NULL DEFAULT '';

-- The MutantImage Events sent: one per open workload-divergence and ReplicaSet, so
-- that a mutation is announced once, not once per scan; resolved_at is when its
-- MutantImageResolved was sent (or the ReplicaSet was found gone).
CREATE TABLE annotation_events (
    mutation_id    bigint      NOT NULL REFERENCES mutations (id) ON DELETE CASCADE,
    replicaset_uid text        NOT NULL,
    cluster_id     bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    namespace      text        NOT NULL,
    replicaset     text        NOT NULL,
    warned_at      timestamptz NOT NULL,
    resolved_at    timestamptz,
    PRIMARY KEY (mutation_id, replicaset_uid)
);
CREATE INDEX annotation_events_open ON annotation_events (cluster_id) WHERE resolved_at IS NULL;
