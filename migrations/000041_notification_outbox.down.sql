DROP INDEX notification_deliveries_merged;
DROP INDEX notification_deliveries_pending;
ALTER TABLE notification_deliveries DROP COLUMN merged_into, DROP COLUMN group_key;
ALTER TABLE rechecks DROP COLUMN baseline;
