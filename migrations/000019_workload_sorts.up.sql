-- The workloads list's sorts walk the open observations in their order and stop at the
-- page size (store.ListWorkloads, walkPageSQL): one index per sort led by a column of
-- observations, names in byte order (COLLATE "C"), the whole order with its tie-breaker
-- (the cluster's id) in the index.
CREATE INDEX observations_open_by_namespace ON observations
    (namespace COLLATE "C", workload_name COLLATE "C", workload_kind COLLATE "C", cluster_id) WHERE closed_at IS NULL;
CREATE INDEX observations_open_by_name ON observations
    (workload_name COLLATE "C", namespace COLLATE "C", workload_kind COLLATE "C", cluster_id) WHERE closed_at IS NULL;
CREATE INDEX observations_open_by_kind ON observations
    (workload_kind COLLATE "C", namespace COLLATE "C", workload_name COLLATE "C", cluster_id) WHERE closed_at IS NULL;
CREATE INDEX observations_open_by_ref ON observations
    (ref COLLATE "C", namespace COLLATE "C", workload_name COLLATE "C", workload_kind COLLATE "C", cluster_id) WHERE closed_at IS NULL;
CREATE INDEX observations_open_by_change ON observations
    (first_seen, namespace COLLATE "C", workload_name COLLATE "C", workload_kind COLLATE "C", cluster_id) WHERE closed_at IS NULL;

-- The overview's recent events, newest first by when each happened (store.RecentEvents):
-- openings by detected_at, resolutions of conditions by resolved_at.
CREATE INDEX mutations_detected_at ON mutations (detected_at DESC, id DESC);
CREATE INDEX mutations_resolved_conditions ON mutations (resolved_at DESC, id DESC)
    WHERE resolved_at IS NOT NULL AND kind NOT IN ('tag-moved', 'pod-drift');
