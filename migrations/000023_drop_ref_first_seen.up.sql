-- The index on (ref, first_seen) of migration 1 served the timeline before it read the
-- reference summary of migration 15. What still reads intervals by reference (the
-- search, what a reference ran before a scan, the rechecks, the summary's refresh)
-- filters on ref first, which observations_ref_digest (ref, digest, cluster_id,
-- pod_uid) serves as well; one index fewer to write for each interval a scan opens.
DROP INDEX observations_ref;
