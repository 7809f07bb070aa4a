-- Issue 28: who watches a cluster, and how its watch stands. One row per watched
-- cluster: the replica holding the lease (held while expires_at, by the database's
-- clock, is in the future; renewed by its heartbeat), and the state it last
-- reported: live, resyncing (listing, not synced yet), stale (broken since
-- stale_since) or polling (the credentials may not watch: note says why).
CREATE TABLE cluster_watches (
    cluster_id bigint PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'resyncing' CHECK (state IN ('live', 'resyncing', 'stale', 'polling')),
    stale_since timestamptz,
    note text NOT NULL DEFAULT '',
    last_change timestamptz,
    last_detected timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
