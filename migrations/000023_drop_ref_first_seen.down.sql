CREATE INDEX observations_ref ON observations (ref, first_seen);
