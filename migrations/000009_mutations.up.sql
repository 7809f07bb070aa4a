-- Mutations: conditions (workload-divergence, tag-divergence, pin-mismatch) are opened
-- when first detected, updated with their places, and resolved when they no longer
-- hold; events (tag-moved, pod-drift) are recorded once and stay. identity is stable
-- across scans, so rescans never duplicate a mutation.
CREATE TABLE mutations (
    id            bigserial PRIMARY KEY,
    identity      text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('workload-divergence', 'tag-divergence', 'pin-mismatch', 'tag-moved', 'pod-drift')),
    cluster_id    bigint      REFERENCES clusters (id) ON DELETE CASCADE,
    cluster       text        NOT NULL DEFAULT '',
    namespace     text        NOT NULL DEFAULT '',
    workload_kind text        NOT NULL DEFAULT '',
    workload_name text        NOT NULL DEFAULT '',
    container     text        NOT NULL DEFAULT '',
    ref           text        NOT NULL,
    digests       text[]      NOT NULL,
    places        jsonb       NOT NULL,
    detected_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    resolved_at   timestamptz
);
CREATE UNIQUE INDEX mutations_open ON mutations (identity) WHERE resolved_at IS NULL;
CREATE UNIQUE INDEX mutations_events ON mutations (identity) WHERE kind IN ('tag-moved', 'pod-drift');
CREATE INDEX mutations_cluster ON mutations (cluster_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX mutations_ref ON mutations (ref, detected_at);
-- Places of open mutations by cluster name, to find cross-cluster ones a scan touches.
CREATE INDEX mutations_places ON mutations USING gin (places jsonb_path_ops) WHERE resolved_at IS NULL;
