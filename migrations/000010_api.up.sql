-- API tokens. Only a SHA-256 of the secret is kept: a token is 32 random bytes, so a
-- fast hash cannot be brute-forced, and a slow one would cost every API request.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text        NOT NULL CHECK (name <> ''),
    role         text        NOT NULL CHECK (role IN ('viewer', 'admin')),
    hash         bytea       NOT NULL UNIQUE,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

-- Users of the web UI; password_hash is an argon2id PHC string.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (name <> ''),
    role          text        NOT NULL CHECK (role IN ('viewer', 'admin')),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Every change made through the API or the admin commands: who, when, what, from where.
CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL DEFAULT '',
    detail      jsonb       NOT NULL DEFAULT '{}',
    remote_addr text        NOT NULL DEFAULT ''
);

-- A cluster deleted without purge keeps its history: its credentials are dropped, it is
-- disabled and marked deleted, and its name is free for a new registration.
ALTER TABLE clusters ALTER COLUMN kubeconfig DROP NOT NULL;
ALTER TABLE clusters ADD COLUMN deleted_at timestamptz;
ALTER TABLE clusters ADD CHECK (deleted_at IS NULL OR (kubeconfig IS NULL AND NOT enabled));
ALTER TABLE clusters DROP CONSTRAINT clusters_name_key;
CREATE UNIQUE INDEX clusters_name_live ON clusters (name) WHERE deleted_at IS NULL;

-- The workloads list pages through what runs now, in byte order (COLLATE "C", as Go
-- sorts), whatever the database's locale.
CREATE INDEX observations_open_workload ON observations
    (cluster_id, namespace COLLATE "C", workload_kind COLLATE "C", workload_name COLLATE "C")
    WHERE closed_at IS NULL;

-- The timeline of a popular tag aggregates every interval of the reference by digest,
-- cluster and pod: this index answers it without reading the table.
CREATE INDEX observations_ref_digest ON observations (ref, digest, cluster_id, pod_uid)
    INCLUDE (first_seen, last_seen, closed_at);

-- The open-interval look-up of a digest: where does it run now?
CREATE INDEX observations_open_digest ON observations (digest) WHERE closed_at IS NULL;

-- A counter of changes to what the API's cached reads are made from (observations,
-- succeeded scans, mutations, deleted clusters), bumped in the transaction of each
-- change: a cached response is served only while the counter it was made under holds.
CREATE TABLE data_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint  NOT NULL
);
INSERT INTO data_version (version) VALUES (0);
