DROP TABLE notification_deliveries;
DROP TABLE notification_events;
DROP TABLE notification_routes;
DROP TABLE notification_channels;
