ALTER TABLE notification_events DROP COLUMN baseline;
