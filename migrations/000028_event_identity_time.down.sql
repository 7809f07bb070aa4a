-- Back to one row per identity: of the pod-drifts of one identity, the first recorded
-- stays.
DELETE FROM mutations m WHERE m.kind = 'pod-drift' AND EXISTS (
    SELECT 1 FROM mutations e WHERE e.kind = 'pod-drift' AND e.identity = m.identity
    AND (e.detected_at, e.id) < (m.detected_at, m.id));
DROP INDEX mutations_drifts;
DROP INDEX mutations_events;
CREATE UNIQUE INDEX mutations_events ON mutations (identity) WHERE kind IN ('tag-moved', 'pod-drift');
