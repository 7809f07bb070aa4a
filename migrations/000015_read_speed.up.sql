-- What every reference ran, per digest and cluster: when it was first and last seen (of
-- its closed intervals), how many distinct pods ran it and how many run it now. Kept
-- equal to what the observations say in the transaction that changes them (a scan, a
-- cluster's deletion, a retention run), so that a timeline reads one row per digest and
-- cluster instead of every interval of the reference.
CREATE TABLE ref_digest_clusters (
    ref        text        NOT NULL,
    digest     text        NOT NULL,
    cluster_id bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz,
    pods       integer     NOT NULL CHECK (pods > 0),
    running    integer     NOT NULL CHECK (running >= 0),
    PRIMARY KEY (ref, digest, cluster_id)
);
-- What a cluster runs, to refresh when it is deleted.
CREATE INDEX ref_digest_clusters_running ON ref_digest_clusters (cluster_id) WHERE running > 0;

INSERT INTO ref_digest_clusters (ref, digest, cluster_id, first_seen, last_seen, pods, running)
SELECT ref, digest, cluster_id, min(first_seen), max(last_seen), count(DISTINCT pod_uid),
       count(DISTINCT pod_uid) FILTER (WHERE closed_at IS NULL)
FROM observations
GROUP BY ref, digest, cluster_id;

-- A cluster's latest succeeded scan, looked up for every running digest's last sighting,
-- whatever number of failed scans came after it.
CREATE INDEX scans_succeeded ON scans (cluster_id, id DESC) WHERE status = 'succeeded';

-- Retention finds closed intervals and resolved mutations by age.
CREATE INDEX observations_closed_at ON observations (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX mutations_resolved_at ON mutations (resolved_at) WHERE resolved_at IS NOT NULL;

-- The open mutations, newest first (GET /mutations?state=open pages by id).
CREATE INDEX mutations_open_id ON mutations (id DESC) WHERE resolved_at IS NULL;
