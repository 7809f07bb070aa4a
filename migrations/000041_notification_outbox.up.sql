-- The outbox at work (issue 26).
--
-- A recheck queued by the first scan of a newly registered cluster is a baseline: the
-- tag-divergences it opens are sent only by routes that ask for the baseline. A
-- reference queued by both a baseline and another change is not one.
ALTER TABLE rechecks ADD COLUMN baseline boolean NOT NULL DEFAULT false;

-- Group wait: the deliveries to one channel of one reference (group_key) that are due
-- together are sent as one message by the first of their jobs to run, which claims the
-- others (merged_into names it) so that a retry sends the same message again, under the
-- same webhook-id. Their own jobs then find them claimed and leave them.
ALTER TABLE notification_deliveries
    ADD COLUMN group_key text NOT NULL DEFAULT '',
    ADD COLUMN merged_into bigint REFERENCES notification_deliveries (id) ON DELETE SET NULL;
CREATE INDEX notification_deliveries_pending ON notification_deliveries (channel_id, group_key, not_before)
    WHERE status = 'pending';
CREATE INDEX notification_deliveries_merged ON notification_deliveries (merged_into) WHERE merged_into IS NOT NULL;
