CREATE INDEX observations_digest ON observations (digest);
DROP INDEX observations_digest_history;
