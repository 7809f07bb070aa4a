-- Acknowledgements and declared-mutable tags (issue 27).
--
-- A rule declares the tags in its scope (Alertmanager matchers over kind, group,
-- cluster, namespace, workload, container and reference) mutable: the tag-moved,
-- pod-drift and tag-divergence inside it are recorded and shown as expected, never
-- open, never sent. Revoked and expired ones stay, for the history.
CREATE TABLE mutable_tag_rules (
    id bigserial PRIMARY KEY,
    scope text NOT NULL CHECK (scope <> ''),
    reason text NOT NULL CHECK (reason <> ''),
    expires_at timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    -- ended_at is when it was revoked, or when the expiry job saw its time come.
    ended_at timestamptz,
    end_reason text NOT NULL DEFAULT '' CHECK (end_reason IN ('', 'revoked', 'expired')),
    ended_by text NOT NULL DEFAULT ''
);

-- An acknowledgement of one mutation, or of a scope (what matches it now and what
-- opens inside it later). A viewer's is requested and an admin approves (active) or
-- denies it; an admin's own is active at once. It ends (ended, end_reason says how)
-- at its time, when its mutation resolves (until resolved), when a digest joins it
-- (until changed, against the digests it was approved on), or revoked.
CREATE TABLE acknowledgements (
    id bigserial PRIMARY KEY,
    mutation_id bigint REFERENCES mutations (id) ON DELETE CASCADE,
    scope text NOT NULL DEFAULT '',
    reason text NOT NULL CHECK (reason <> ''),
    ticket text NOT NULL DEFAULT '',
    until text NOT NULL CHECK (until IN ('time', 'resolved', 'changed')),
    expires_at timestamptz,
    digests text[] NOT NULL DEFAULT '{}',
    status text NOT NULL CHECK (status IN ('requested', 'active', 'denied', 'ended')),
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    decided_by text NOT NULL DEFAULT '',
    decided_at timestamptz,
    ended_at timestamptz,
    end_reason text NOT NULL DEFAULT '' CHECK (end_reason IN ('', 'expired', 'resolved', 'changed', 'revoked')),
    ended_by text NOT NULL DEFAULT '',
    CHECK ((mutation_id IS NULL) <> (scope = '')),
    CHECK (until <> 'time' OR expires_at IS NOT NULL),
    CHECK (mutation_id IS NOT NULL OR until = 'time')
);
CREATE INDEX acknowledgements_live ON acknowledgements (id) WHERE status IN ('requested', 'active');
CREATE INDEX acknowledgements_mutation ON acknowledgements (mutation_id);

-- The state attention.Decide gives a mutation, written only through it (store.settle),
-- and what made it so: SQL filters and counts on it.
ALTER TABLE mutations
    ADD COLUMN state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'expected', 'resolved')),
    ADD COLUMN state_rule_id bigint REFERENCES mutable_tag_rules (id) ON DELETE SET NULL,
    ADD COLUMN state_ack_id bigint REFERENCES acknowledgements (id) ON DELETE SET NULL;
-- Before this, nothing was acknowledged or expected: what is resolved is resolved.
UPDATE mutations SET state = 'resolved' WHERE resolved_at IS NOT NULL;
CREATE INDEX mutations_state ON mutations (state, kind) WHERE resolved_at IS NULL;
CREATE INDEX mutations_state_ack ON mutations (state_ack_id) WHERE state_ack_id IS NOT NULL;
CREATE INDEX mutations_state_rule ON mutations (state_rule_id) WHERE state_rule_id IS NOT NULL;

ALTER TABLE notification_events DROP CONSTRAINT notification_events_type_check;
ALTER TABLE notification_events ADD CONSTRAINT notification_events_type_check
    CHECK (type IN ('mutation.opened', 'mutation.changed', 'mutation.acknowledged', 'mutation.resolved', 'event.recorded'));
