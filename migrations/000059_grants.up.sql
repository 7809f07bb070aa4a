-- Grants (issue 29): a user or an API token holds roles that combine, each on every
-- cluster or on the clusters of some cluster groups: viewer on every cluster and admin
-- on team-a reads everything and administers team-a's clusters. One row per role held:
-- group_ids NULL is every cluster, else the clusters of those groups (a deleted
-- group's id names no group and is left out when read, so a grant whose every group
-- went covers no cluster, never all of them). The role columns of users and api_tokens
-- stay: the highest role held, written with the grants in one transaction. The scopes
-- of 000051 (one role, one scope) become the grant of that role.
CREATE TABLE user_grants (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      text   NOT NULL CHECK (role IN ('viewer', 'admin')),
    group_ids bigint[],
    PRIMARY KEY (user_id, role)
);

CREATE TABLE token_grants (
    token_id  bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    role      text   NOT NULL CHECK (role IN ('viewer', 'admin')),
    group_ids bigint[],
    PRIMARY KEY (token_id, role)
);

INSERT INTO user_grants (user_id, role, group_ids)
SELECT u.id, u.role, CASE WHEN u.scoped THEN
    ARRAY(SELECT s.group_id FROM user_scope_groups s WHERE s.user_id = u.id ORDER BY 1) END
FROM users u;

INSERT INTO token_grants (token_id, role, group_ids)
SELECT t.id, t.role, CASE WHEN t.scoped THEN
    ARRAY(SELECT s.group_id FROM token_scope_groups s WHERE s.token_id = t.id ORDER BY 1) END
FROM api_tokens t;

DROP TABLE user_scope_groups;
DROP TABLE token_scope_groups;
ALTER TABLE users DROP COLUMN scoped;
ALTER TABLE api_tokens DROP COLUMN scoped;
