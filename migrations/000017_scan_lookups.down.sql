CREATE INDEX scans_succeeded ON scans (cluster_id, id DESC) WHERE status = 'succeeded';
DROP INDEX scans_succeeded_at;
