ALTER TABLE mutations DROP COLUMN cluster_group;
ALTER TABLE clusters DROP COLUMN group_id;
DROP TABLE cluster_groups;
