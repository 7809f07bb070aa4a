-- The running pods the search box cannot find from their workload's name: one row per
-- pod that runs now (has open observations) whose name is neither its workload's nor
-- begins with it and a '-' (store.oddPod), with its workload. Deployments',
-- StatefulSets', DaemonSets', Jobs' and CronJobs' pods are named so: the search finds
-- those from running_workloads' name index and the open intervals of the few workloads
-- whose name begins the term (store.Search), so that this table is about empty and a
-- scan writes it hardly ever. An index on the observations' pods made every first scan
-- about 5 % slower, and a row here for every pod about 10 %.
--
-- Kept in the transactions that open and close intervals, with running_workloads
-- (store.refreshWorkloadsOf). The key leads with the pod's name, so that a pod-name
-- prefix is a range of it, and holds the workload: a pod's name can come back under
-- another workload. No foreign key to clusters: store.DeleteCluster deletes the rows of
-- the cluster itself. Names compare by bytes (COLLATE "C"), as the search's ranges do.
CREATE TABLE running_pods (
    pod        text   COLLATE "C" NOT NULL,
    namespace  text   COLLATE "C" NOT NULL,
    cluster_id bigint NOT NULL,
    kind       text   COLLATE "C" NOT NULL,
    name       text   COLLATE "C" NOT NULL,
    PRIMARY KEY (pod, namespace, cluster_id, kind, name)
);

INSERT INTO running_pods (pod, namespace, cluster_id, kind, name)
SELECT DISTINCT o.pod, o.namespace, o.cluster_id, o.workload_kind, o.workload_name
FROM observations o JOIN clusters c ON c.id = o.cluster_id AND c.deleted_at IS NULL
WHERE o.closed_at IS NULL AND NOT (o.pod = o.workload_name OR starts_with(o.pod, o.workload_name || '-'));
