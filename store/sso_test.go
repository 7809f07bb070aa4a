package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSignInWithProvider checks a provider's user end to end in the store: added when
// first seen (under a suffixed name when a local user has its name), its role re-read
// at every sign-in and the change audited with the subject, a user in no mapped group
// or disabled refused and audited, its session ending at the provider maximum, and no
// local sign-in for it.
func TestSignInWithProvider(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	mustUser(t, s, "ada", RoleViewer) // a local user of the same name
	const idp = "https://idp.example.com"
	to := SessionTimeouts{Idle: 12 * time.Hour, Absolute: 7 * 24 * time.Hour}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a := Audit{Actor: "sso:sub-ada", RemoteAddr: "192.0.2.9"}
	in := ProviderSignIn{Provider: idp, Subject: "sub-ada", Name: "ada", Grants: []NamedGrant{{Role: RoleAdmin}}, Groups: []string{"ops"}, EndsAt: t0.Add(8 * time.Hour)}

	id, sess, err := s.SignInWithProvider(ctx, in, t0, a)
	if err != nil {
		t.Fatal(err)
	}
	u := sess.User
	if !strings.HasPrefix(u.Name, "ada~") || u.Role != RoleAdmin || u.Provider != idp || u.Subject != "sub-ada" ||
		u.LastSignInAt == nil || !u.LastSignInAt.Equal(t0) {
		t.Fatalf("first sign-in made %+v; want a new admin named ada~…, not the local ada", u)
	}
	if local, _ := s.UserByName(ctx, "ada"); local.Role != RoleViewer || local.Provider != "" {
		t.Fatalf("the local ada changed: %+v", local)
	}
	if got, err := s.Session(ctx, id, t0.Add(7*time.Hour), to); err != nil || got.User.ID != u.ID || got.EndsAt == nil {
		t.Fatalf("session after 7 h = %+v, %v; want live", got, err)
	}
	if _, err := s.Session(ctx, id, t0.Add(8*time.Hour), to); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session at the provider maximum: %v, want ErrNotFound", err)
	}
	// No password: local sign-in finds no hash, and CreateSession refuses.
	if _, h, err := s.UserPasswordHash(ctx, u.Name); err != nil || h != "" {
		t.Fatalf("UserPasswordHash = %q, %v; want no hash", h, err)
	}
	if _, _, err := s.CreateSession(ctx, u.ID, t0, uiAudit); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CreateSession of a provider's user: %v, want ErrNotFound", err)
	}

	// Later: moved to a viewer group. Same user, new role, audited with the subject.
	t1 := t0.Add(24 * time.Hour)
	in.Grants, in.Groups, in.Name, in.EndsAt = []NamedGrant{{Role: RoleViewer}}, []string{"devs"}, "renamed", t1.Add(time.Hour)
	_, sess, err = s.SignInWithProvider(ctx, in, t1, a)
	if err != nil || sess.User.ID != u.ID || sess.User.Role != RoleViewer || sess.User.Name != u.Name {
		t.Fatalf("second sign-in = %+v, %v; want the same user, now viewer", sess.User, err)
	}
	evs, err := s.FindAuditEvents(ctx, AuditFilter{Target: u.Name, Action: ActionUserRole, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Detail["subject"] != "sub-ada" || evs[0].Detail["from"] != RoleAdmin ||
		evs[0].Detail["to"] != RoleViewer || evs[0].Actor != "sso:sub-ada" {
		t.Fatalf("role change audit = %+v, %v", evs, err)
	}

	// In no mapped group: refused, audited, the role kept.
	in.Grants, in.Groups = nil, nil
	if _, _, err := s.SignInWithProvider(ctx, in, t1, a); !errors.Is(err, ErrNoRole) {
		t.Fatalf("no role: %v, want ErrNoRole", err)
	}
	if got, _ := s.UserByName(ctx, u.Name); got.Role != RoleViewer {
		t.Fatalf("refused sign-in changed the role to %q", got.Role)
	}
	// A stranger in no group: refused, nothing added.
	if _, _, err := s.SignInWithProvider(ctx, ProviderSignIn{Provider: idp, Subject: "sub-x", Name: "x"}, t1, a); !errors.Is(err, ErrNoRole) {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := s.UserByName(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused stranger was added: %v", err)
	}
	// Disabled: refused whatever the groups say.
	if _, err := s.SetUserDisabled(ctx, u.Name, true, t1, uiAudit); err != nil {
		t.Fatal(err)
	}
	in.Grants = []NamedGrant{{Role: RoleAdmin}}
	if _, _, err := s.SignInWithProvider(ctx, in, t1, a); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("disabled: %v, want ErrUserDisabled", err)
	}
	want := []string{ActionUserAdd, ActionUserSignIn, ActionUserRole, ActionUserGrants, ActionUserSignIn, ActionUserSignInRefused, ActionUserDisable, ActionUserSignInRefused}
	if got := auditActions(t, s, u.Name); !slices.Equal(got, want) {
		t.Fatalf("audit of %s = %v, want %v", u.Name, got, want)
	}
	refused, err := s.FindAuditEvents(ctx, AuditFilter{Action: ActionUserSignInRefused, Limit: 10})
	if err != nil || len(refused) != 3 || refused[0].Detail["subject"] != "sub-ada" || refused[1].Detail["subject"] != "sub-x" {
		t.Fatalf("refused sign-ins audited = %+v, %v", refused, err)
	}
}

// TestSignInGrants checks that a provider's user's grants are set again at every
// sign-in from every mapping of its groups, combined (viewer on every cluster and admin
// on eu reads all and administers eu), and audited with the subject; a mapping naming
// a cluster group that does not exist grants nothing of it.
func TestSignInGrants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	for _, g := range []string{"eu", "us"} {
		if _, err := s.CreateGroup(ctx, g, cliAudit); err != nil {
			t.Fatal(err)
		}
	}
	eu := groupOf(t, s, "eu")
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a := Audit{Actor: "sso:sub-bo", RemoteAddr: "192.0.2.9"}
	in := ProviderSignIn{Provider: "https://idp.example.com", Subject: "sub-bo", Name: "bo", Groups: []string{"eu-ops"},
		Grants: []NamedGrant{{Role: RoleAdmin, Groups: []string{"eu", "not-yet"}}}, EndsAt: t0.Add(8 * time.Hour)}
	_, sess, err := s.SignInWithProvider(ctx, in, t0, a)
	if err != nil {
		t.Fatal(err)
	}
	if g := sess.User.Grants; g.Role() != RoleAdmin || g.ReadScope().Key() != fmt.Sprintf("g%d", eu) || g.AdminScope().Key() != g.ReadScope().Key() {
		t.Fatalf("first sign-in grants: %+v", g)
	}
	// Also in the readers of every cluster: admin on eu, viewer on all, both kept.
	in.Groups = []string{"eu-ops", "readers"}
	in.Grants = append(in.Grants, NamedGrant{Role: RoleViewer})
	_, sess, err = s.SignInWithProvider(ctx, in, t0.Add(time.Hour), a)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.UserGrants(ctx, sess.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []Grants{sess.User.Grants, stored} {
		if g.Role() != RoleAdmin || g.ReadScope().Limited || g.AdminScope().Key() != fmt.Sprintf("g%d", eu) {
			t.Fatalf("viewer-all + admin-eu grants: %+v; want to read every cluster and administer eu", g)
		}
	}
	evs, err := s.FindAuditEvents(ctx, AuditFilter{Action: ActionUserGrants, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Detail["subject"] != "sub-bo" ||
		fmt.Sprint(evs[0].Detail["from"]) != "[admin on eu]" || fmt.Sprint(evs[0].Detail["to"]) != "[admin on eu viewer on all clusters]" {
		t.Fatalf("grants audit: %+v, %v", evs, err)
	}
	// The same again: no change, no entry.
	if _, _, err := s.SignInWithProvider(ctx, in, t0.Add(2*time.Hour), a); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.FindAuditEvents(ctx, AuditFilter{Action: ActionUserGrants, Limit: 10}); len(evs) != 1 {
		t.Errorf("unchanged grants were audited: %d entries", len(evs))
	}
	// Moved to the global ops group alone: admin of every cluster.
	in.Grants, in.Groups = []NamedGrant{{Role: RoleAdmin}}, []string{"ops"}
	if _, sess, err = s.SignInWithProvider(ctx, in, t0.Add(3*time.Hour), a); err != nil || sess.User.Grants.AdminScope().Limited {
		t.Fatalf("third sign-in grants: %+v, %v", sess.User.Grants, err)
	}
}
