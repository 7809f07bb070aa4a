CREATE INDEX observations_digest_history ON observations (digest, first_seen, id);
DROP INDEX observations_digest_seen;
