-- When each cluster first ran each digest of each reference, for the letters a reader
-- scoped to some cluster groups sees (store.scopeLetters, docs/access.md): the digests
-- of a reference its clusters ran, lettered A, B, … in the order they first ran them,
-- so that no letter hints at a digest only other groups' clusters ran. Like
-- digest_letters, kept apart from the reference summary, whose rows a retention run
-- deletes: a row is written when a cluster first runs a digest under a reference
-- (store.recordSightings, in the scan's transaction) and stays while the cluster does.
CREATE TABLE digest_sightings (
    ref        text        NOT NULL,
    digest     text        NOT NULL,
    cluster_id bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    first_seen timestamptz NOT NULL,
    PRIMARY KEY (ref, digest, cluster_id)
);
CREATE INDEX digest_sightings_cluster_id ON digest_sightings (cluster_id);

-- What the summary still keeps of what ran before.
INSERT INTO digest_sightings (ref, digest, cluster_id, first_seen)
SELECT ref, digest, cluster_id, first_seen FROM ref_digest_clusters;
