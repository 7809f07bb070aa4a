-- The ID token of a session started through the identity provider, sealed with the
-- service's keys and bound to the session (store.SetSessionIDToken): the id_token_hint
-- of the sign-out at the provider (RP-Initiated Logout, docs/sso.md). NULL for a local
-- sign-in. It goes with its session.
ALTER TABLE sessions ADD COLUMN id_token bytea;
