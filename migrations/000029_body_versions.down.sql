ALTER TABLE mutations DROP COLUMN body_version;
ALTER TABLE running_workloads DROP COLUMN body_version;
