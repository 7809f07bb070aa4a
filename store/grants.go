package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Grants (migration 000059, docs/access.md): a user or a token holds roles that
// combine, each on every cluster or on the clusters of some cluster groups. What they
// allow is decided here and nowhere else: a principal reads the clusters of any of its
// grants (ReadScope) and administers those of its admin grants (AdminScope).

// ActionUserGrants and ActionTokenGrants record a change of grants.
const (
	ActionUserGrants  = "user.grants"
	ActionTokenGrants = "token.grants"
)

// Grant is a role on the clusters of Scope (its zero value: every cluster).
type Grant struct {
	Role  string
	Scope Scope
}

// Grants are the roles a user or a token holds. As stored and returned they are
// normal: at most one grant per role, the admin one first, and a viewer grant only
// where it adds clusters to the admin one's.
type Grants []Grant

// OneGrant is role on sc alone.
func OneGrant(role string, sc Scope) Grants { return Grants{{Role: role, Scope: sc.clone()}}.normal() }

// Role is the highest role held: RoleAdmin with an admin grant (on any clusters),
// RoleViewer with only viewer grants, "" with none.
func (gs Grants) Role() string {
	role := ""
	for _, g := range gs {
		if g.Role == RoleAdmin {
			return RoleAdmin
		}
		role = g.Role
	}
	return role
}

// ReadScope is what gs may read: the union of every grant's scope (none without a
// grant).
func (gs Grants) ReadScope() Scope { return gs.union(func(Grant) bool { return true }) }

// AdminScope is what gs administers: the union of the admin grants' scopes (none
// without one).
func (gs Grants) AdminScope() Scope {
	return gs.union(func(g Grant) bool { return g.Role == RoleAdmin })
}

func (gs Grants) union(keep func(Grant) bool) Scope {
	out := Scope{Limited: true, GroupIDs: []int64{}}
	for _, g := range gs {
		if keep(g) {
			out = out.Union(g.Scope)
		}
	}
	return out
}

// Covers reports whether gs allows all that other does: it reads and administers at
// least other's clusters, and holds the admin role if other does.
func (gs Grants) Covers(other Grants) bool {
	return gs.ReadScope().covers(other.ReadScope()) && gs.AdminScope().covers(other.AdminScope()) &&
		(other.Role() != RoleAdmin || gs.Role() == RoleAdmin)
}

// Cut is gs bounded by bound: a token's grants by its owner's. Each grant keeps the
// clusters bound reads (viewer) and, for an admin grant, administers (admin).
func (gs Grants) Cut(bound Grants) Grants {
	var out Grants
	for _, g := range gs {
		out = append(out, Grant{Role: RoleViewer, Scope: g.Scope.Intersect(bound.ReadScope())})
		if g.Role == RoleAdmin {
			out = append(out, Grant{Role: RoleAdmin, Scope: g.Scope.Intersect(bound.AdminScope())})
		}
	}
	return out.normal()
}

// Equal reports whether gs and other are the same normal grants.
func (gs Grants) Equal(other Grants) bool {
	return slices.EqualFunc(gs.normal(), other.normal(), func(a, b Grant) bool {
		return a.Role == b.Role && a.Scope.Limited == b.Scope.Limited && a.Scope.Key() == b.Scope.Key()
	})
}

// normal merges gs into one admin grant (the union of the admin grants) and one viewer
// grant of the clusters the admin one does not cover, either left out when there is
// none of its role. A viewer grant of no cluster stays when it is the only grant.
func (gs Grants) normal() Grants {
	var out Grants
	hasAdmin, hasViewer := false, false
	for _, g := range gs {
		hasAdmin = hasAdmin || g.Role == RoleAdmin
		hasViewer = hasViewer || g.Role == RoleViewer
	}
	admin := gs.AdminScope()
	if hasAdmin {
		out = append(out, Grant{Role: RoleAdmin, Scope: admin})
	}
	if !hasViewer {
		return out
	}
	read := gs.ReadScope()
	if hasAdmin && admin.covers(read) {
		return out
	}
	if read.Limited && hasAdmin {
		var rest []int64
		for _, id := range read.GroupIDs {
			if !admin.HasGroup(id) {
				rest = append(rest, id)
			}
		}
		read.GroupIDs = rest
	}
	return append(out, Grant{Role: RoleViewer, Scope: read})
}

// Union is what sc or other covers.
func (sc Scope) Union(other Scope) Scope {
	if !sc.Limited || !other.Limited {
		return Scope{}
	}
	ids := append(slices.Clone(sc.ids()), other.GroupIDs...)
	slices.Sort(ids)
	return Scope{Limited: true, GroupIDs: slices.Compact(ids)}
}

// NamedGrant is a grant as a person writes it: a role on the clusters of the cluster
// groups Groups, or with none on every cluster.
type NamedGrant struct {
	Role   string
	Groups []string
}

// resolveGrants are the named grants with their groups' ids, locked against a deletion
// until tx ends: ErrNotFound names an unknown group. At least one grant is needed.
func resolveGrants(ctx context.Context, tx pgx.Tx, named []NamedGrant) (Grants, error) {
	if len(named) == 0 {
		return nil, fmt.Errorf("grants: at least one grant is needed (a role on every cluster or on some cluster groups)")
	}
	var gs Grants
	for _, n := range named {
		if err := validRole(n.Role); err != nil {
			return nil, fmt.Errorf("grant: %w", err)
		}
		g := Grant{Role: n.Role}
		if len(n.Groups) > 0 {
			ids, err := scopeGroupIDs(ctx, tx, n.Groups)
			if err != nil {
				return nil, err
			}
			g.Scope = Scope{Limited: true, GroupIDs: ids}
		}
		gs = append(gs, g)
	}
	return gs.normal(), nil
}

// grantsSQL selects, as JSON, the grants of the row of table (user_grants or
// token_grants, keyed by key) whose id the SQL expression id names; scanned with
// grantRows. A deleted group's id is left out.
func grantsSQL(table, key, id string) string {
	return `coalesce((SELECT jsonb_agg(jsonb_build_object('role', g.role, 'groups', CASE WHEN g.group_ids IS NOT NULL THEN
		ARRAY(SELECT x FROM unnest(g.group_ids) x WHERE x IN (SELECT cg.id FROM cluster_groups cg) ORDER BY 1) END) ORDER BY g.role)
		FROM ` + table + ` g WHERE g.` + key + ` = ` + id + `), '[]'::jsonb)`
}

// grantRows are grants as grantsSQL selects them.
type grantRows []struct {
	Role   string   `json:"role"`
	Groups *[]int64 `json:"groups"`
}

func (rows grantRows) grants() Grants {
	var gs Grants
	for _, r := range rows {
		g := Grant{Role: r.Role}
		if r.Groups != nil {
			g.Scope = Scope{Limited: true, GroupIDs: append([]int64{}, *r.Groups...)}
		}
		gs = append(gs, g)
	}
	return gs.normal()
}

// writeGrants replaces the grants of row id of table (users or api_tokens; their grants
// in grantsTable, keyed by key) with gs, and its role column with gs's highest role.
func writeGrants(ctx context.Context, tx pgx.Tx, table, grantsTable, key string, id int64, gs Grants) error {
	if _, err := tx.Exec(ctx, `DELETE FROM `+grantsTable+` WHERE `+key+` = $1`, id); err != nil {
		return fmt.Errorf("write grants: %w", err)
	}
	for _, g := range gs.normal() {
		if _, err := tx.Exec(ctx, `INSERT INTO `+grantsTable+` (`+key+`, role, group_ids) VALUES ($1, $2, $3)`,
			id, g.Role, g.Scope.groupIDs()); err != nil {
			return fmt.Errorf("write grants: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+table+` SET role = $2 WHERE id = $1`, id, gs.Role()); err != nil {
		return fmt.Errorf("write grants: %w", err)
	}
	return nil
}

// grantLabels are grants as the audit trail shows them: "admin on team-a, team-b",
// "viewer on all clusters".
func grantLabels(ctx context.Context, tx pgx.Tx, gs Grants) ([]string, error) {
	out := []string{}
	for _, g := range gs.normal() {
		names, err := scopeNames(ctx, tx, g.Scope)
		if err != nil {
			return nil, err
		}
		on := "all clusters"
		if n, ok := names.([]string); ok {
			on = strings.Join(n, ", ")
			if len(n) == 0 {
				on = "no cluster"
			}
		}
		out = append(out, g.Role+" on "+on)
	}
	return out, nil
}

// UserGrants are user id's grants; ErrNotFound when there is no such user.
func (s *Store) UserGrants(ctx context.Context, id int64) (Grants, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("grants of user %d: %w", id, notFound(err))
	}
	return u.Grants, nil
}

// SetUserGrants replaces user name's grants (user.grants, from and to); ErrNotFound for
// an unknown user or group, ErrLastAdmin when it would leave no enabled admin. The
// user's tokens keep theirs, cut to these at every use (TokenBySecret).
func (s *Store) SetUserGrants(ctx context.Context, name string, named []NamedGrant, a Audit) (User, error) {
	u, err := s.setUserGrants(ctx, name, func(tx pgx.Tx, _ User) (Grants, error) { return resolveGrants(ctx, tx, named) },
		func(tx pgx.Tx, old, u User) error {
			from, err := grantLabels(ctx, tx, old.Grants)
			if err != nil {
				return err
			}
			to, err := grantLabels(ctx, tx, u.Grants)
			if err != nil {
				return err
			}
			return recordAudit(ctx, tx, a, ActionUserGrants, u.Name, map[string]any{"id": u.ID, "from": from, "to": to})
		})
	if err != nil {
		return User{}, fmt.Errorf("set grants of user %q: %w", name, err)
	}
	return u, nil
}

// setUserGrants gives user name the grants want makes of it (from the locked user),
// then records the change with audit, inside one transaction; an unchanged user is left
// as is, unrecorded.
func (s *Store) setUserGrants(ctx context.Context, name string, want func(pgx.Tx, User) (Grants, error),
	audit func(tx pgx.Tx, old, u User) error) (User, error) {
	var gs Grants
	return s.changeUser(ctx, name, func(tx pgx.Tx, u User) (bool, error) {
		var err error
		gs, err = want(tx, u)
		return gs.Role() != RoleAdmin, err
	}, func(tx pgx.Tx, u User) (User, error) {
		if u.Grants.Equal(gs) {
			return u, nil
		}
		if err := writeGrants(ctx, tx, "users", "user_grants", "user_id", u.ID, gs); err != nil {
			return User{}, err
		}
		next, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, u.ID))
		if err != nil {
			return User{}, err
		}
		return next, audit(tx, u, next)
	})
}
