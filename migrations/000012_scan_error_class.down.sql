ALTER TABLE scans DROP COLUMN error_class;
