package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Access scopes (migrations 000051, 000053; docs/access.md): a user's or an API
// token's role covers every cluster, or only the clusters of some cluster groups. Reads
// take the Scope of the principal and filter in their query, not after it.
//
// Built: the data model; setting and reading users' and tokens' scopes (a token's is
// bounded by its owner's at use: TokenBySecret; a scoped owner's new token starts with
// the owner's; a provider's user gets theirs at every sign-in: SignInWithProvider); the
// scope read with a session or a token; and every read of the API and UI filtered by
// it: clusters, groups, scans, workloads, mutations and their counts and recent
// events, search and its suggestions (a scoped digest prefix walks
// ref_digest_clusters), timelines, digests, tag targets, behind counts (the one
// judgement's verdicts filtered by cluster), the audit trail, rules and
// acknowledgements (those of the scope's mutations, or whose matchers pin one of its
// groups: matchersSQL), notification routes (a scoped admin's route keeps the admin's
// scope, checked at routing and sending: routeInScopeSQL), and digest letters (a
// scope's own, counted over its clusters' sightings: scopeLetters). Not scoped: the
// metrics, and what only admins of every cluster read (users, tokens, channels,
// deliveries).

// ActionUserScope and ActionTokenScope record a change of a scope.
const (
	ActionUserScope  = "user.scope"
	ActionTokenScope = "token.scope"
)

// ErrScopeWider means a token's scope would cover clusters its owner's does not.
var ErrScopeWider = fmt.Errorf("a token's scope cannot be wider than its owner's: %w", ErrConflict)

// Scope is the clusters a role covers: every cluster (the zero value), or, Limited,
// those of the cluster groups GroupIDs (none: no cluster at all).
type Scope struct {
	Limited  bool
	GroupIDs []int64
}

// covers reports whether sc covers all that other covers.
func (sc Scope) covers(other Scope) bool {
	if !sc.Limited {
		return true
	}
	if !other.Limited {
		return false
	}
	for _, g := range other.GroupIDs {
		if !slices.Contains(sc.GroupIDs, g) {
			return false
		}
	}
	return true
}

// Intersect is what both sc and other cover: a token's scope bounded by its owner's.
func (sc Scope) Intersect(other Scope) Scope {
	switch {
	case !sc.Limited:
		return other.clone()
	case !other.Limited:
		return sc.clone()
	}
	out := Scope{Limited: true, GroupIDs: []int64{}}
	for _, g := range sc.GroupIDs {
		if slices.Contains(other.GroupIDs, g) && !slices.Contains(out.GroupIDs, g) {
			out.GroupIDs = append(out.GroupIDs, g)
		}
	}
	slices.Sort(out.GroupIDs)
	return out
}

func (sc Scope) clone() Scope {
	if !sc.Limited {
		return Scope{}
	}
	return Scope{Limited: true, GroupIDs: append([]int64{}, sc.GroupIDs...)}
}

// Covers reports whether sc covers all that other covers.
func (sc Scope) Covers(other Scope) bool { return sc.covers(other) }

// HasGroup reports whether sc covers the clusters of group id.
func (sc Scope) HasGroup(id int64) bool { return !sc.Limited || slices.Contains(sc.GroupIDs, id) }

// Key names sc for a cache key: "" for every cluster, "g" and the sorted group ids
// otherwise ("g" alone for none), so that two principals of one scope share answers
// and no answer crosses scopes.
func (sc Scope) Key() string {
	if !sc.Limited {
		return ""
	}
	ids := slices.Clone(sc.GroupIDs)
	slices.Sort(ids)
	var b strings.Builder
	b.WriteString("g")
	for i, id := range slices.Compact(ids) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

// ids are the group ids as a query argument: never NULL, so that none matches none.
func (sc Scope) ids() []int64 {
	if sc.GroupIDs == nil {
		return []int64{}
	}
	return sc.GroupIDs
}

// groupSQL is the condition that the cluster group whose id the SQL expression id
// names is in sc: "" for every group.
func (sc Scope) groupSQL(q *query, id string) string {
	if !sc.Limited {
		return ""
	}
	return " AND " + id + " = ANY(" + q.arg(sc.ids()) + "::bigint[])"
}

// mutationSQL is the condition that the mutation m (the SQL alias) is in sc: a
// cluster's own condition (cluster_id set) by its cluster's group, one spanning
// clusters (a tag-divergence, which never crosses a group) by the group it was
// detected in, by id (group_id, migration 000061), so that a group's resolved ones
// stay in its scope when it is renamed.
func (sc Scope) mutationSQL(q *query, m string) string {
	if !sc.Limited {
		return ""
	}
	ids := q.arg(sc.ids())
	return " AND (CASE WHEN " + m + ".cluster_id IS NOT NULL THEN " + m + ".cluster_id IN (SELECT sc.id FROM clusters sc WHERE sc.group_id = ANY(" + ids + "::bigint[]))" +
		" ELSE " + m + ".group_id = ANY(" + ids + "::bigint[]) END)"
}

// clusterSQL is the condition that the cluster whose id the SQL expression id names is
// in sc: "" for every cluster.
func (sc Scope) clusterSQL(q *query, id string) string {
	if !sc.Limited {
		return ""
	}
	// none: no cluster, never NULL's surprises (ids)
	return " AND " + id + " IN (SELECT sc.id FROM clusters sc WHERE sc.group_id = ANY(" + q.arg(sc.ids()) + "::bigint[]))"
}

// groupIDs is sc as an SQL array argument of cluster group ids: NULL for every
// cluster, else its groups (empty for none), for `($n::bigint[] IS NULL OR group_id =
// ANY($n))`.
func (sc Scope) groupIDs() []int64 {
	if !sc.Limited {
		return nil
	}
	if sc.GroupIDs == nil {
		return []int64{}
	}
	return sc.GroupIDs
}

// scopeGroupIDs are the ids of the named groups, locked against a deletion until tx
// ends; ErrNotFound names the first unknown one.
func scopeGroupIDs(ctx context.Context, tx pgx.Tx, groups []string) ([]int64, error) {
	if len(groups) == 0 {
		return nil, errors.New("a scope names at least one cluster group")
	}
	ids := make([]int64, 0, len(groups))
	for _, g := range groups {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT id FROM cluster_groups WHERE name = $1 FOR SHARE`, g).Scan(&id); err != nil {
			return nil, fmt.Errorf("group %q: %w", g, notFound(err))
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// readScope is the scope of a user (table user_scope_groups, key user_id) or a token
// (token_scope_groups, token_id) whose scoped flag is scoped.
func readScope(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, scoped bool, table, key string, id int64) (Scope, error) {
	if !scoped {
		return Scope{}, nil
	}
	rows, err := q.Query(ctx, `SELECT group_id FROM `+table+` WHERE `+key+` = $1 ORDER BY group_id`, id)
	if err != nil {
		return Scope{}, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return Scope{}, err
	}
	return Scope{Limited: true, GroupIDs: append([]int64{}, ids...)}, nil
}

// UserScope is the scope of user id's role; ErrNotFound when there is no such user.
func (s *Store) UserScope(ctx context.Context, id int64) (Scope, error) {
	var scoped bool
	if err := s.pool.QueryRow(ctx, `SELECT scoped FROM users WHERE id = $1`, id).Scan(&scoped); err != nil {
		return Scope{}, fmt.Errorf("scope of user %d: %w", id, notFound(err))
	}
	sc, err := readScope(ctx, s.pool, scoped, "user_scope_groups", "user_id", id)
	if err != nil {
		return Scope{}, fmt.Errorf("scope of user %d: %w", id, err)
	}
	return sc, nil
}

// SetUserScope scopes user name's role to the clusters of groups, or, with none, to
// every cluster again; recorded as user.scope (from, to, by group name). ErrNotFound
// for an unknown user or group. The user's tokens keep their own scopes: a scope
// narrower than a token's bounds it when the token is used (TokenBySecret).
func (s *Store) SetUserScope(ctx context.Context, name string, groups []string, a Audit) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var id int64
		var scoped bool
		if err := tx.QueryRow(ctx, `SELECT id, scoped FROM users WHERE name = $1 FOR UPDATE`, name).Scan(&id, &scoped); err != nil {
			return notFound(err)
		}
		old, err := scopeNames(ctx, tx, scoped, "user_scope_groups", "user_id", id)
		if err != nil {
			return err
		}
		if err := writeScope(ctx, tx, "users", "user_scope_groups", "user_id", id, groups); err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionUserScope, name, map[string]any{"id": id, "from": old, "to": scopeLabel(groups)})
	})
	if err != nil {
		return fmt.Errorf("set scope of user %q: %w", name, err)
	}
	return nil
}

// TokenScope is the scope of token id; ErrNotFound when there is no such token.
func (s *Store) TokenScope(ctx context.Context, id int64) (Scope, error) {
	var scoped bool
	if err := s.pool.QueryRow(ctx, `SELECT scoped FROM api_tokens WHERE id = $1`, id).Scan(&scoped); err != nil {
		return Scope{}, fmt.Errorf("scope of token %d: %w", id, notFound(err))
	}
	sc, err := readScope(ctx, s.pool, scoped, "token_scope_groups", "token_id", id)
	if err != nil {
		return Scope{}, fmt.Errorf("scope of token %d: %w", id, err)
	}
	return sc, nil
}

// SetTokenScope scopes token id to the clusters of groups, or, with none, to every
// cluster; ErrScopeWider when its owner is scoped and that covers clusters the owner's
// scope does not; recorded as token.scope.
func (s *Store) SetTokenScope(ctx context.Context, id int64, groups []string, a Audit) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var name string
		var scoped bool
		var owner *int64
		if err := tx.QueryRow(ctx, `SELECT name, scoped, owner_id FROM api_tokens WHERE id = $1 FOR UPDATE`, id).Scan(&name, &scoped, &owner); err != nil {
			return notFound(err)
		}
		want := Scope{}
		if len(groups) > 0 {
			ids, err := scopeGroupIDs(ctx, tx, groups)
			if err != nil {
				return err
			}
			want = Scope{Limited: true, GroupIDs: ids}
		}
		if owner != nil {
			var ownerScoped bool
			if err := tx.QueryRow(ctx, `SELECT scoped FROM users WHERE id = $1 FOR SHARE`, *owner).Scan(&ownerScoped); err != nil {
				return fmt.Errorf("owner: %w", notFound(err))
			}
			ownerScope, err := readScope(ctx, tx, ownerScoped, "user_scope_groups", "user_id", *owner)
			if err != nil {
				return err
			}
			if !ownerScope.covers(want) {
				return ErrScopeWider
			}
		}
		old, err := scopeNames(ctx, tx, scoped, "token_scope_groups", "token_id", id)
		if err != nil {
			return err
		}
		if err := writeScope(ctx, tx, "api_tokens", "token_scope_groups", "token_id", id, groups); err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionTokenScope, name, map[string]any{"id": id, "from": old, "to": scopeLabel(groups)})
	})
	if err != nil {
		return fmt.Errorf("set scope of token %d: %w", id, err)
	}
	return nil
}

// writeScope replaces the scope of row id of table (its groups in groupsTable, keyed by
// key): the groups' clusters, or every cluster with none.
func writeScope(ctx context.Context, tx pgx.Tx, table, groupsTable, key string, id int64, groups []string) error {
	var ids []int64
	if len(groups) > 0 {
		var err error
		if ids, err = scopeGroupIDs(ctx, tx, groups); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+groupsTable+` WHERE `+key+` = $1`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+groupsTable+` (`+key+`, group_id) SELECT $1, unnest($2::bigint[])`, id, ids); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE `+table+` SET scoped = $2 WHERE id = $1`, id, len(groups) > 0)
	return err
}

// scopeNames is a scope as the audit trail shows it: "all", or its groups' names.
func scopeNames(ctx context.Context, tx pgx.Tx, scoped bool, groupsTable, key string, id int64) (any, error) {
	if !scoped {
		return "all", nil
	}
	rows, err := tx.Query(ctx, `SELECT g.name FROM `+groupsTable+` s JOIN cluster_groups g ON g.id = s.group_id
		WHERE s.`+key+` = $1 ORDER BY g.name`, id)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return append([]string{}, names...), nil
}

func scopeLabel(groups []string) any {
	if len(groups) == 0 {
		return "all"
	}
	out := slices.Clone(groups)
	slices.Sort(out)
	return slices.Compact(out)
}

// whereScope adds cond, a condition of Scope's (" AND ..." or ""), to q's.
func (q *query) whereScope(cond string) {
	if cond != "" {
		q.where(strings.TrimPrefix(cond, " AND "))
	}
}

// matchersSQL is the condition that a rule's or an acknowledgement's matchers (the
// text column col, attention.ParseScope's syntax) are confined to sc: they name a group
// of sc with an equality matcher (group="name"), and so match nothing outside it (the
// matchers of a scope all hold at once). "" for every cluster. Others may name any
// cluster, and a limited scope does not see them. Group names hold only lowercase
// letters, digits, '.' and '-' (ValidGroupName): only '.' needs escaping.
func (sc Scope) matchersSQL(q *query, col string) string {
	if !sc.Limited {
		return ""
	}
	return " AND " + col + ` ~ (SELECT '(^|[{,[:space:]])group[[:space:]]*=[[:space:]]*"(' ||
		string_agg(replace(sg.name, '.', '\.'), '|') || ')"' FROM cluster_groups sg WHERE sg.id = ANY(` +
		q.arg(sc.ids()) + "::bigint[]))"
}
