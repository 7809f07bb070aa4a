DROP TABLE running_workloads;
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
