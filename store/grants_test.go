package store

import (
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
