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
    PRIMARY KEY (ref, digest, cluster_id) INCLUDE (first_seen)
);
CREATE INDEX digest_sightings_cluster_id ON digest_sightings (cluster_id);

-- What the summary still keeps of what ran before.
INSERT INTO digest_sightings (ref, digest, cluster_id, first_seen)
SELECT ref, digest, cluster_id, first_seen FROM ref_digest_clusters;

-- The group a mutation was detected in, by id beside its name (cluster_group, kept for
-- display and the rules' group matcher), so that a reader scoped to a group keeps its
-- tag-divergences spanning clusters, resolved ones included, when the group is renamed
-- (store.Scope.mutationSQL): by name, a resolved one left every scope at a rename.
-- A deleted group's mutations keep its name and lose the id: no scope has that group.
ALTER TABLE mutations ADD COLUMN group_id bigint REFERENCES cluster_groups (id) ON DELETE SET NULL;

-- The existing ones, by the name they were detected under: a resolved one of a group
-- renamed before this migration matches no group, and stays out of every scope.
UPDATE mutations m SET group_id = g.id FROM cluster_groups g WHERE g.name = m.cluster_group;
