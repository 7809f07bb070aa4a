ALTER TABLE mutations DROP COLUMN group_id;
DROP TABLE digest_sightings;
