-- Access scopes (issue 29): a user's or an API token's role may cover the clusters of
-- some cluster groups only. A scoped one (scoped) covers the clusters of the groups
-- listed for it and nothing else: with none listed (its last group deleted) it covers
-- no cluster, never all of them. Not scoped, the default, covers every cluster.
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
