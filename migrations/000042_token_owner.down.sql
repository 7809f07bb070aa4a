ALTER TABLE api_tokens DROP COLUMN owner_name, DROP COLUMN owner_id;
