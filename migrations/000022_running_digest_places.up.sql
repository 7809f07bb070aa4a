-- The digest look-up pages both its lists from an index instead of sorting every row of
-- a digest that may run in thousands of pods and have run in many more
-- (store.DigestUses):
--  * what runs it now, per cluster, then namespace, workload, pod and container by
--    bytes, then interval; in the place of migration 10's index on the open intervals'
--    digest alone;
--  * its history, newest first: by first sighting, then interval; in the place of
--    migration 1's index on the digest alone, which digest look-ups and the search's
--    digest prefixes still read through its first column.
-- A scan writes as many indexes as before.
CREATE INDEX observations_open_digest_place ON observations
    (digest, cluster_id, namespace COLLATE "C", workload_kind COLLATE "C", workload_name COLLATE "C",
     pod COLLATE "C", container COLLATE "C", id) WHERE closed_at IS NULL;
DROP INDEX observations_open_digest;
CREATE INDEX observations_digest_history ON observations (digest, first_seen, id);
DROP INDEX observations_digest;
