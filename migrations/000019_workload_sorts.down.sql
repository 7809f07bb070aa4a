DROP INDEX mutations_resolved_conditions;
DROP INDEX mutations_detected_at;
DROP INDEX observations_open_by_change;
DROP INDEX observations_open_by_ref;
DROP INDEX observations_open_by_kind;
DROP INDEX observations_open_by_name;
DROP INDEX observations_open_by_namespace;
