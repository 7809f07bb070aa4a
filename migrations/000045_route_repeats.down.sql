UPDATE notification_deliveries SET status = 'failed' WHERE status = 'dropped';
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_status_check
    CHECK (status IN ('pending', 'delivered', 'failed'));
ALTER TABLE notification_deliveries DROP COLUMN route_ids;
