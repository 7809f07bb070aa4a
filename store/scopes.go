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

// ErrScopeWider means a token's grants would allow what its owner's do not.
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

// UserScope is what user id reads (Grants.ReadScope); ErrNotFound when there is no
// such user.
func (s *Store) UserScope(ctx context.Context, id int64) (Scope, error) {
	gs, err := s.UserGrants(ctx, id)
	if err != nil {
		return Scope{}, err
	}
	return gs.ReadScope(), nil
}

// SetUserScope gives user name one grant, of its highest role on the clusters of
// groups, or, with none, on every cluster (a shorthand of SetUserGrants); recorded as
// user.scope (from, to, by group name). ErrNotFound for an unknown user or group. The
// user's tokens keep their own grants, cut to the user's when used (TokenBySecret).
func (s *Store) SetUserScope(ctx context.Context, name string, groups []string, a Audit) error {
	_, err := s.setUserGrants(ctx, name, func(tx pgx.Tx, u User) (Grants, error) {
		sc, err := namedScope(ctx, tx, groups)
		return OneGrant(u.Role, sc), err
	}, func(tx pgx.Tx, old, u User) error {
		from, err := scopeNames(ctx, tx, old.Grants.ReadScope())
		if err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionUserScope, name, map[string]any{"id": u.ID, "from": from, "to": scopeLabel(groups)})
	})
	if err != nil {
		return fmt.Errorf("set scope of user %q: %w", name, err)
	}
	return nil
}

// namedScope is the clusters of groups (locked until tx ends), or every cluster with
// none; ErrNotFound names an unknown group.
func namedScope(ctx context.Context, tx pgx.Tx, groups []string) (Scope, error) {
	if len(groups) == 0 {
		return Scope{}, nil
	}
	ids, err := scopeGroupIDs(ctx, tx, groups)
	if err != nil {
		return Scope{}, err
	}
	return Scope{Limited: true, GroupIDs: ids}, nil
}

// TokenScope is what token id reads by its own grants (its owner's bound it further
// when used); ErrNotFound when there is no such token.
func (s *Store) TokenScope(ctx context.Context, id int64) (Scope, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.id = $1`, id))
	if err != nil {
		return Scope{}, fmt.Errorf("scope of token %d: %w", id, notFound(err))
	}
	return t.Grants.ReadScope(), nil
}

// SetTokenScope gives token id one grant, of its role on the clusters of groups, or,
// with none, on every cluster (a shorthand of SetTokenGrants); ErrScopeWider when that
// allows what its owner's grants do not; recorded as token.scope.
func (s *Store) SetTokenScope(ctx context.Context, id int64, groups []string, a Audit) error {
	_, err := s.setTokenGrants(ctx, id, func(tx pgx.Tx, t Token) (Grants, error) {
		sc, err := namedScope(ctx, tx, groups)
		return OneGrant(t.Role, sc), err
	}, func(tx pgx.Tx, old, t Token) error {
		from, err := scopeNames(ctx, tx, old.Grants.ReadScope())
		if err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionTokenScope, t.Name, map[string]any{"id": id, "from": from, "to": scopeLabel(groups)})
	})
	if err != nil {
		return fmt.Errorf("set scope of token %d: %w", id, err)
	}
	return nil
}

// SetTokenGrants replaces token id's grants (token.grants, from and to); ErrNotFound
// for an unknown token or group, ErrScopeWider when they allow what its owner's grants
// do not.
func (s *Store) SetTokenGrants(ctx context.Context, id int64, named []NamedGrant, a Audit) (Token, error) {
	t, err := s.setTokenGrants(ctx, id, func(tx pgx.Tx, _ Token) (Grants, error) { return resolveGrants(ctx, tx, named) },
		func(tx pgx.Tx, old, t Token) error {
			from, err := grantLabels(ctx, tx, old.Grants)
			if err != nil {
				return err
			}
			to, err := grantLabels(ctx, tx, t.Grants)
			if err != nil {
				return err
			}
			return recordAudit(ctx, tx, a, ActionTokenGrants, t.Name, map[string]any{"id": id, "from": from, "to": to})
		})
	if err != nil {
		return Token{}, fmt.Errorf("set grants of token %d: %w", id, err)
	}
	return t, nil
}

// setTokenGrants gives token id the grants want makes of it (from the locked token),
// refused with ErrScopeWider when they allow what its owner's do not, then records the
// change with audit, inside one transaction; an unchanged token is left as is.
func (s *Store) setTokenGrants(ctx context.Context, id int64, want func(pgx.Tx, Token) (Grants, error),
	audit func(tx pgx.Tx, old, t Token) error) (Token, error) {
	var out Token
	err := s.tx(ctx, func(tx pgx.Tx) error {
		t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err)
		}
		gs, err := want(tx, t)
		if err != nil {
			return err
		}
		if t.OwnerID != 0 {
			owner, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR SHARE`, t.OwnerID))
			if err != nil {
				return fmt.Errorf("owner: %w", notFound(err))
			}
			if !owner.Grants.Covers(gs) {
				return ErrScopeWider
			}
		}
		if out = t; t.Grants.Equal(gs) {
			return nil
		}
		if err := writeGrants(ctx, tx, "api_tokens", "token_grants", "token_id", id, gs); err != nil {
			return err
		}
		if out, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.id = $1`, id)); err != nil {
			return err
		}
		return audit(tx, t, out)
	})
	return out, err
}

// scopeNames is a scope as the audit trail shows it: "all", or its groups' names.
func scopeNames(ctx context.Context, tx pgx.Tx, sc Scope) (any, error) {
	if !sc.Limited {
		return "all", nil
	}
	rows, err := tx.Query(ctx, `SELECT name FROM cluster_groups WHERE id = ANY($1::bigint[]) ORDER BY name`, sc.ids())
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
