ALTER TABLE sessions DROP COLUMN ends_at;
DROP INDEX users_provider_subject;
DELETE FROM users WHERE provider IS NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_password_or_provider;
ALTER TABLE users DROP COLUMN last_sign_in_at;
ALTER TABLE users DROP COLUMN subject;
ALTER TABLE users DROP COLUMN provider;
ALTER TABLE users ALTER COLUMN password_hash SET NOT NULL;
