DROP INDEX mutations_open_id;
DROP INDEX mutations_resolved_at;
DROP INDEX observations_closed_at;
DROP INDEX scans_succeeded;
DROP TABLE ref_digest_clusters;
