ALTER TABLE mutations DROP COLUMN places_json;
