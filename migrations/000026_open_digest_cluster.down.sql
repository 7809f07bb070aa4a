CREATE INDEX observations_open_digest ON observations (digest) WHERE closed_at IS NULL;
DROP INDEX observations_open_digest_cluster;
