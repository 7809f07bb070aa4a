-- Routes at delivery time, and reminders of what stays open (issue 26).
--
-- route_ids are the routes that chose a delivery when its event was written. When it
-- is first sent (after its group wait), it goes only if one of them still exists, is
-- enabled, its channel too, and still matches the event; otherwise it is dropped:
-- status dropped, last_error saying why. Deliveries written before have none and are
-- sent as they were. A route's repeat interval reads them too: a reminder is due when a
-- route's last message about a mutation still open is that old (store/repeats.go).
ALTER TABLE notification_deliveries ADD COLUMN route_ids bigint[] NOT NULL DEFAULT '{}';
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_status_check
    CHECK (status IN ('pending', 'delivered', 'failed', 'dropped'));
