ALTER TABLE scans DROP COLUMN kind, DROP COLUMN snapshots, DROP COLUMN changed;
ALTER TABLE clusters DROP COLUMN scan_mode;
