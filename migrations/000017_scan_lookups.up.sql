-- A cluster's latest succeeded scan is looked up for each running digest of a timeline,
-- each cluster running a looked-up digest and each cluster listed. Under scans_succeeded
-- the planner still walked scans_pkey backward, filtering by cluster and status: cheap
-- while every cluster succeeds, but a cluster failing for 30 days made the 10,000,000-row
-- benchmark's timeline read 13,000 buffers (32 ms) instead of 360 (1.3 ms). Carrying the
-- times the lookups read makes the partial index an index-only scan, which the planner
-- prefers; it replaces scans_succeeded, so a scan still writes as many index entries.
CREATE INDEX scans_succeeded_at ON scans (cluster_id, id DESC) INCLUDE (started_at, finished_at)
    WHERE status = 'succeeded';
DROP INDEX scans_succeeded;
