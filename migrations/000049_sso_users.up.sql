-- Users who sign in through an OpenID Connect provider (docs/sso.md): they have no
-- password, and are known by their provider (its issuer URL) and the provider's subject,
-- never by a name, so that nobody at the provider can take a local account by naming
-- themselves after it. Their role is read from the provider's groups at every sign-in.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN provider text;
ALTER TABLE users ADD COLUMN subject text;
ALTER TABLE users ADD COLUMN last_sign_in_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_password_or_provider CHECK (
    (provider IS NULL AND subject IS NULL AND password_hash IS NOT NULL)
    OR (provider IS NOT NULL AND provider <> '' AND subject IS NOT NULL AND subject <> '' AND password_hash IS NULL));
CREATE UNIQUE INDEX users_provider_subject ON users (provider, subject) WHERE provider IS NOT NULL;

-- A session may end before the server's absolute timeout: one started through a
-- provider lasts at most --oidc-session-max, so that a user removed from a group loses
-- access within it.
ALTER TABLE sessions ADD COLUMN ends_at timestamptz;
