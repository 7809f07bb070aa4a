-- River migration 008 (job id autoincrement), written by hack/rivermigration; do not edit.

-- No-op. Postgres sequences already prevent automatically generated job IDs
-- from being reused.
SELECT 1;
