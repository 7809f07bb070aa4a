package store

import (
	"context"
	"fmt"
	"testing"
)

// TestGrantsRule checks the one rule of grants, without a database: what a set of
// grants reads and administers, its normal form, a token's grants cut to its owner's,
// and which grants cover which.
func TestGrantsRule(t *testing.T) {
	all := Scope{}
	on := func(ids ...int64) Scope { return Scope{Limited: true, GroupIDs: ids} }
	g := func(role string, sc Scope) Grant { return Grant{Role: role, Scope: sc} }
	show := func(gs Grants) string {
		return fmt.Sprintf("%s read %q admin %q %d grants", gs.Role(), gs.ReadScope().Key(), gs.AdminScope().Key(), len(gs.normal()))
	}
	for _, tc := range []struct {
		name string
		gs   Grants
		want string
	}{
		{"none", nil, ` read "g" admin "g" 0 grants`},
		{"viewer everywhere", Grants{g(RoleViewer, all)}, `viewer read "" admin "g" 1 grants`},
		{"viewer all, admin team 1", Grants{g(RoleViewer, all), g(RoleAdmin, on(1))}, `admin read "" admin "g1" 2 grants`},
		{"admin all covers a viewer grant", Grants{g(RoleAdmin, all), g(RoleViewer, on(2))}, `admin read "" admin "" 1 grants`},
		{"admin 1, viewer 1 and 2", Grants{g(RoleAdmin, on(1)), g(RoleViewer, on(1, 2))}, `admin read "g1,2" admin "g1" 2 grants`},
		{"two admin grants merge", Grants{g(RoleAdmin, on(3)), g(RoleAdmin, on(1))}, `admin read "g1,3" admin "g1,3" 1 grants`},
		{"a grant of no cluster", Grants{g(RoleViewer, on())}, `viewer read "g" admin "g" 1 grants`},
	} {
		if got := show(tc.gs); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// The normal form of viewer on 1, 2 and admin on 1: admin on 1, viewer on 2.
	if n := (Grants{g(RoleViewer, on(1, 2)), g(RoleAdmin, on(1))}).normal(); len(n) != 2 || n[0].Role != RoleAdmin ||
		n[0].Scope.Key() != "g1" || n[1].Role != RoleViewer || n[1].Scope.Key() != "g2" {
		t.Errorf("normal: %+v", n)
	}
	owner := Grants{g(RoleViewer, all), g(RoleAdmin, on(1))}
	for _, tc := range []struct {
		name  string
		token Grants
		want  string
	}{
		{"admin everywhere, cut", Grants{g(RoleAdmin, all)}, `admin read "" admin "g1" 2 grants`},
		{"viewer everywhere", Grants{g(RoleViewer, all)}, `viewer read "" admin "g" 1 grants`},
		{"admin on 2, which the owner only reads", Grants{g(RoleAdmin, on(2))}, `admin read "g2" admin "g" 2 grants`},
		{"admin on 1 and 2", Grants{g(RoleAdmin, on(1, 2))}, `admin read "g1,2" admin "g1" 2 grants`},
	} {
		if got := show(tc.token.Cut(owner)); got != tc.want {
			t.Errorf("cut %s: %s, want %s", tc.name, got, tc.want)
		}
		if !owner.Covers(tc.token.Cut(owner)) {
			t.Errorf("cut %s is wider than its owner's", tc.name)
		}
	}
	if owner.Covers(Grants{g(RoleAdmin, all)}) || !owner.Covers(Grants{g(RoleViewer, all)}) || (Grants{g(RoleViewer, all)}).Covers(Grants{g(RoleAdmin, on())}) {
		t.Error("covers")
	}
	if !(Grants{g(RoleAdmin, on(1)), g(RoleViewer, all)}).Equal(owner) || owner.Equal(Grants{g(RoleAdmin, on(1))}) {
		t.Error("equal")
	}
}

// TestMigrateGrants checks migration 000059 on the scopes of 000051: a scoped user
// and token get the grant of their role on their groups, an unscoped one on every
// cluster; down keeps the grant of the highest role.
func TestMigrateGrants(t *testing.T) {
	db := mustDatabase(t, "tagdrift_grants")
	m, err := NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	// Back to just before 59 (one step for each later file).
	to58 := func() {
		t.Helper()
		for {
			v, _, err := m.Version()
			if err != nil {
				t.Fatal(err)
			}
			if v <= 58 {
				return
			}
			if err := m.Down(1); err != nil {
				t.Fatal(err)
			}
		}
	}
	to58()
	ctx := context.Background()
	s, err := Open(ctx, db.URL, nil, testBodies{1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO cluster_groups (id, name) VALUES (101, 'team-a');
		INSERT INTO users (id, name, role, password_hash, scoped) VALUES (1, 'alice', 'admin', 'x', true), (2, 'bob', 'viewer', 'x', false);
		INSERT INTO user_scope_groups (user_id, group_id) VALUES (1, 101);
		INSERT INTO api_tokens (id, name, role, hash, created_by, scoped) VALUES (1, 'a', 'viewer', '\x01', 'cli:ops', true);
		INSERT INTO token_scope_groups (token_id, group_id) VALUES (1, 101)`); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]string{1: `admin read "g101" admin "g101"`, 2: `viewer read "" admin "g"`} {
		gs, err := s.UserGrants(ctx, id)
		if got := fmt.Sprintf("%s read %q admin %q", gs.Role(), gs.ReadScope().Key(), gs.AdminScope().Key()); err != nil || got != want {
			t.Errorf("user %d after 000059: %s, %v; want %s", id, got, err, want)
		}
	}
	if sc, err := s.TokenScope(ctx, 1); err != nil || sc.Key() != "g101" {
		t.Errorf("token after 000059: %+v, %v", sc, err)
	}
	// Down: alice, viewer on every cluster and admin on team-a, keeps admin on team-a.
	if _, err := s.SetUserGrants(ctx, "alice", []NamedGrant{{Role: RoleViewer}, {Role: RoleAdmin, Groups: []string{"team-a"}}}, cliAudit); err != nil {
		t.Fatal(err)
	}
	to58()
	var scoped bool
	var groups []int64
	if err := s.pool.QueryRow(ctx, `SELECT scoped, ARRAY(SELECT group_id FROM user_scope_groups WHERE user_id = 1) FROM users WHERE id = 1`).Scan(&scoped, &groups); err != nil ||
		!scoped || fmt.Sprint(groups) != "[101]" {
		t.Errorf("alice after down: scoped %t on %v, %v", scoped, groups, err)
	}
}
