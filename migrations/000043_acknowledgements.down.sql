DELETE FROM notification_events WHERE type = 'mutation.acknowledged';
ALTER TABLE notification_events DROP CONSTRAINT notification_events_type_check;
ALTER TABLE notification_events ADD CONSTRAINT notification_events_type_check
    CHECK (type IN ('mutation.opened', 'mutation.changed', 'mutation.resolved', 'event.recorded'));
ALTER TABLE mutations DROP COLUMN state_ack_id, DROP COLUMN state_rule_id, DROP COLUMN state;
DROP TABLE acknowledgements;
DROP TABLE mutable_tag_rules;
