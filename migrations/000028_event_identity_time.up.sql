-- A pod-drift is each change of the code under a running pod: a container that goes
-- A→B→A→B drifted three times, the second A→B as much as the first. Its identity
-- (kind, cluster, pod UID, container, from, to) no longer names one event alone: the
-- time it was recorded (detected_at, the scan's) joins it, so the same change later is
-- another row, and the same scan's write again is the same one. A tag-moved is a
-- reference's move onto a digest never seen for it, once per identity: its index stays
-- on the identity alone.
DROP INDEX mutations_events;
CREATE UNIQUE INDEX mutations_events ON mutations (identity) WHERE kind = 'tag-moved';
CREATE UNIQUE INDEX mutations_drifts ON mutations (identity, detected_at) WHERE kind = 'pod-drift';
