ALTER TABLE notification_routes DROP COLUMN scope_groups;
