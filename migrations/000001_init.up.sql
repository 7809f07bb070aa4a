-- Clusters registered with the service. The kubeconfig is the vetted, reduced form,
-- sealed with the key ring (AES-256-GCM, the cluster id as associated data); key_id
-- names the sealing key so that rotation finds what is left to re-seal.
CREATE TABLE clusters (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (name <> ''),
    server        text        NOT NULL,
    context       text        NOT NULL,
    kubeconfig    bytea       NOT NULL,
    key_id        bigint      NOT NULL,
    scan_interval interval    NOT NULL DEFAULT '5 minutes' CHECK (scan_interval >= '10 seconds'),
    annotate      text        NOT NULL DEFAULT 'off' CHECK (annotate IN ('off', 'on')),
    enabled       boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clusters_key_id ON clusters (key_id);

-- Every scan of a cluster. A scan that did not finish listing is never 'succeeded'
-- and closes nothing.
CREATE TABLE scans (
    id          bigserial PRIMARY KEY,
    cluster_id  bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    status      text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'aborted')),
    queued_at   timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    pods        integer     NOT NULL DEFAULT 0,
    containers  integer     NOT NULL DEFAULT 0,
    opened      integer     NOT NULL DEFAULT 0,
    closed      integer     NOT NULL DEFAULT 0,
    error       text        NOT NULL DEFAULT ''
);
CREATE INDEX scans_cluster ON scans (cluster_id, id DESC);

-- Observations are intervals: one container of one pod seen running one digest, opened
-- by the first scan that saw it and closed by the first complete scan that did not.
-- A scan in which nothing changed writes no rows here. While a row is open, it was last
-- seen by the cluster's latest succeeded scan; last_seen is written when it closes.
CREATE TABLE observations (
    id               bigserial PRIMARY KEY,
    cluster_id       bigint      NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    namespace        text        NOT NULL,
    pod              text        NOT NULL,
    pod_uid          text        NOT NULL,
    node             text        NOT NULL DEFAULT '',
    arch             text        NOT NULL DEFAULT '',
    runtime          text        NOT NULL DEFAULT '',
    workload_kind    text        NOT NULL,
    workload_name    text        NOT NULL,
    controller_kind  text        NOT NULL DEFAULT '',
    controller_name  text        NOT NULL DEFAULT '',
    controller_uid   text        NOT NULL DEFAULT '',
    revision         text        NOT NULL DEFAULT '',
    container        text        NOT NULL,
    container_type   text        NOT NULL CHECK (container_type IN ('init', 'regular', 'ephemeral')),
    image            text        NOT NULL,
    ref              text        NOT NULL,
    pinned           boolean     NOT NULL,
    digest           text        NOT NULL,
    digest_kind      text        NOT NULL CHECK (digest_kind IN ('repo', 'image-id', 'unknown')),
    image_id         text        NOT NULL,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz,
    closed_at        timestamptz,
    CHECK ((closed_at IS NULL) = (last_seen IS NULL))
);
-- One open interval per container of a pod and imageID: what a scan diffs against.
CREATE UNIQUE INDEX observations_open ON observations (cluster_id, pod_uid, container, image_id) WHERE closed_at IS NULL;
-- The questions users ask: by cluster and workload, by reference (timeline), by digest.
CREATE INDEX observations_workload ON observations (cluster_id, namespace, workload_kind, workload_name);
CREATE INDEX observations_ref ON observations (ref, first_seen);
CREATE INDEX observations_digest ON observations (digest);
