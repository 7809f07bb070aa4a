-- Notifications (issue 26): the channels an admin registers, the routes that say which
-- mutations go to which channel, and the outbox: the events, written in the transaction
-- that changed the mutation, and one delivery per event and channel, which a River job
-- inserted in that same transaction sends.

-- A channel: its kind, its settings that are not secret (an Alertmanager URL, an email's
-- recipients) as JSON, and its secret (a webhook's signing secret, a Slack URL, a
-- PagerDuty routing key, an SMTP password) sealed with the keyring like a kubeconfig,
-- under key key_id, never read back out but to send.
CREATE TABLE notification_channels (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('webhook', 'slack', 'pagerduty', 'alertmanager', 'email')),
    config jsonb NOT NULL DEFAULT '{}',
    secret bytea,
    key_id bigint,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((secret IS NULL) = (key_id IS NULL))
);
CREATE UNIQUE INDEX notification_channels_name ON notification_channels (name);

-- A route: what goes to one channel. Empty kinds or types mean all of them (a route
-- names event.recorded to get events); matchers are Alertmanager matchers over the
-- alert's label set, parsed by the service; cluster_group NULL is every cluster.
CREATE TABLE notification_routes (
    id bigserial PRIMARY KEY,
    channel_id bigint NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    cluster_group text,
    kinds text[] NOT NULL DEFAULT '{}',
    types text[] NOT NULL DEFAULT '{}',
    matchers text NOT NULL DEFAULT '',
    group_wait interval NOT NULL DEFAULT '30 seconds' CHECK (group_wait >= '0'),
    repeat_interval interval CHECK (repeat_interval > '0'),
    send_baseline boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_routes_channel ON notification_routes (channel_id);

-- An event, once: its public id (webhook-id, random so that a database restored or
-- rebuilt never repeats one a receiver already dropped as seen), its type, the mutation
-- (NULL once purged with its cluster: the payload, rendered when written, outlives it)
-- and the payload's shape version.
CREATE TABLE notification_events (
    id bigserial PRIMARY KEY,
    public_id text NOT NULL DEFAULT 'evt_' || replace(gen_random_uuid()::text, '-', ''),
    type text NOT NULL CHECK (type IN ('mutation.opened', 'mutation.changed', 'mutation.resolved', 'event.recorded')),
    mutation_id bigint REFERENCES mutations (id) ON DELETE SET NULL,
    reason text NOT NULL DEFAULT '',
    payload jsonb NOT NULL,
    payload_version int NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX notification_events_public_id ON notification_events (public_id);
CREATE INDEX notification_events_mutation ON notification_events (mutation_id);

-- A delivery: one event to one channel (however many of its routes matched), sent not
-- before not_before (the group wait). attempts and the last error class (tagdrift's
-- words, never the receiver's body) are for the channel's delivery log.
CREATE TABLE notification_deliveries (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
    channel_id bigint NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    not_before timestamptz NOT NULL,
    attempts int NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    delivered_at timestamptz,
    UNIQUE (event_id, channel_id)
);
-- The delivery log of a channel, newest first.
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, id DESC);
