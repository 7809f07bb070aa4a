-- The search box's pod names: which workload runs a pod of this name now? Without it
-- every open interval was read (224 ms at 100,000 running containers). A scan writes
-- it only for the intervals it opens; closing one adds no entry, as the closed row is
-- outside the index.
CREATE INDEX observations_open_pod ON observations (pod) WHERE closed_at IS NULL;
