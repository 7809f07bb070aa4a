DROP TABLE token_scope_groups;
DROP TABLE user_scope_groups;
ALTER TABLE api_tokens DROP COLUMN scoped;
ALTER TABLE users DROP COLUMN scoped;
