-- A token records the user it acts for: the user who made it in the web UI, or the
-- owner of the token it was made with. It works only while that user exists, is enabled
-- and, for an admin token, is still an admin. owner_name keeps who it was: a token with
-- owner_name set and owner_id NULL belongs to a deleted user and never works again.
-- Tokens made by the operator (tagdrift token create, TAGDRIFT_ADMIN_TOKEN) have neither.
ALTER TABLE api_tokens
    ADD COLUMN owner_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN owner_name text;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_owner_named CHECK (owner_id IS NULL OR owner_name IS NOT NULL);
CREATE INDEX api_tokens_owner ON api_tokens (owner_id) WHERE owner_id IS NOT NULL;

-- Tokens made before: the creator recorded in created_by is the owner. A user since
-- deleted leaves the name alone, so that the token stops working.
UPDATE api_tokens t SET owner_id = u.id, owner_name = u.name
FROM users u WHERE t.created_by = 'user:' || u.name;
UPDATE api_tokens SET owner_name = substr(created_by, 6)
WHERE owner_name IS NULL AND created_by LIKE 'user:%';
-- Tokens made with a token ("token:<id>:<name>") take its owner, along chains of any
-- length.
DO $$
BEGIN
    LOOP
        UPDATE api_tokens t SET owner_id = p.owner_id, owner_name = p.owner_name
        FROM api_tokens p
        WHERE t.owner_name IS NULL AND p.owner_name IS NOT NULL
          AND t.created_by LIKE 'token:' || p.id || ':%';
        EXIT WHEN NOT FOUND;
    END LOOP;
END
$$;
