-- River migration 002 (initial schema), written by hack/rivermigration; do not edit.

DROP TABLE river_job;
DROP FUNCTION river_job_notify;
DROP TYPE river_job_state;

DROP TABLE river_leader;
