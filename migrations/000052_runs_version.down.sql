ALTER TABLE clusters DROP COLUMN runs_version;
