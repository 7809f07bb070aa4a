DROP TABLE annotation_events;
ALTER TABLE scans DROP COLUMN annotate_writes, DROP COLUMN annotate_error;
