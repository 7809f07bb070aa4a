-- Back to one role and one scope (000051): each user and token keeps the grant of its
-- highest role (its role column); a viewer grant beside an admin one is lost.
ALTER TABLE users ADD COLUMN scoped boolean NOT NULL DEFAULT false;
ALTER TABLE api_tokens ADD COLUMN scoped boolean NOT NULL DEFAULT false;

CREATE TABLE user_scope_groups (
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES cluster_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_scope_groups_group ON user_scope_groups (group_id);

CREATE TABLE token_scope_groups (
    token_id bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES cluster_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, group_id)
);
CREATE INDEX token_scope_groups_group ON token_scope_groups (group_id);

UPDATE users u SET scoped = true
FROM user_grants g WHERE g.user_id = u.id AND g.role = u.role AND g.group_ids IS NOT NULL;
INSERT INTO user_scope_groups (user_id, group_id)
SELECT DISTINCT g.user_id, x FROM user_grants g JOIN users u ON u.id = g.user_id AND u.role = g.role,
    unnest(g.group_ids) x WHERE x IN (SELECT id FROM cluster_groups);

UPDATE api_tokens t SET scoped = true
FROM token_grants g WHERE g.token_id = t.id AND g.role = t.role AND g.group_ids IS NOT NULL;
INSERT INTO token_scope_groups (token_id, group_id)
SELECT DISTINCT g.token_id, x FROM token_grants g JOIN api_tokens t ON t.id = g.token_id AND t.role = g.role,
    unnest(g.group_ids) x WHERE x IN (SELECT id FROM cluster_groups);

DROP TABLE user_grants;
DROP TABLE token_grants;
