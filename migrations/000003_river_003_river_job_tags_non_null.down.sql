-- River migration 003 (river job tags non null), written by hack/rivermigration; do not edit.

ALTER TABLE river_job
    ALTER COLUMN tags DROP NOT NULL,
    ALTER COLUMN tags DROP DEFAULT;
