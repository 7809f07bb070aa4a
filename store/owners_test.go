package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// refusal is why TokenBySecret refuses secret: "" when it accepts it.
func refusal(t testing.TB, s *Store, secret string) string {
	t.Helper()
	_, err := s.TokenBySecret(context.Background(), secret, time.Now())
	var refused *RefusedTokenError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &refused):
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("a refusal does not wrap ErrNotFound: %v", err)
		}
		return refused.Reason
	default:
		t.Fatalf("TokenBySecret: %v", err)
		return ""
	}
}

// TestTokenOwners: a token acts for the user who made it; it works only while that user
// exists, is enabled and, for an admin token, is an admin; deleting the user revokes its
// tokens in the same transaction, each revocation audited; Users counts live tokens.
func TestTokenOwners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	mustUser(t, s, "root", RoleAdmin) // so that alice is not the last admin
	alice := mustUser(t, s, "alice", RoleAdmin)
	bob := mustUser(t, s, "bob", RoleViewer)

	adminTok, adminSecret, err := s.CreateToken(ctx, NewToken{Name: "deploy", Role: RoleAdmin, OwnerID: alice.ID}, Audit{Actor: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	if adminTok.OwnerID != alice.ID || adminTok.Owner != "alice" {
		t.Errorf("owner %d %q, want alice", adminTok.OwnerID, adminTok.Owner)
	}
	_, viewerSecret, err := s.CreateToken(ctx, NewToken{Name: "grafana", Role: RoleViewer, OwnerID: alice.ID}, Audit{Actor: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if _, _, err := s.CreateToken(ctx, NewToken{Name: "old", Role: RoleViewer, OwnerID: alice.ID, ExpiresAt: &past}, cliAudit); err != nil {
		t.Fatal(err)
	}
	_, cliSecret := mustToken(t, s, "ops", RoleAdmin, nil) // the operator's: no owner

	// A viewer cannot own an admin token.
	if _, _, err := s.CreateToken(ctx, NewToken{Name: "x", Role: RoleAdmin, OwnerID: bob.ID}, cliAudit); !errors.Is(err, ErrConflict) {
		t.Errorf("admin token of a viewer: %v, want ErrConflict", err)
	}
	countTokens := func() map[string]int {
		t.Helper()
		us, err := s.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, u := range us {
			out[u.Name] = u.Tokens
		}
		return out
	}
	if got := fmt.Sprint(countTokens()); got != "map[alice:2 bob:0 root:0]" {
		t.Errorf("token counts %s, want alice's two live ones", got)
	}
	for secret, want := range map[string]string{adminSecret: "", viewerSecret: "", cliSecret: ""} {
		if got := refusal(t, s, secret); got != want {
			t.Errorf("before: refused %q", got)
		}
	}

	// Demoted: the admin token stops, the viewer token goes on.
	if _, err := s.SetUserRole(ctx, "alice", RoleViewer, cliAudit); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, s, adminSecret); got != "owner not an admin" {
		t.Errorf("demoted owner's admin token: refused %q", got)
	}
	if got := refusal(t, s, viewerSecret); got != "" {
		t.Errorf("demoted owner's viewer token: refused %q", got)
	}
	if _, err := s.SetUserRole(ctx, "alice", RoleAdmin, cliAudit); err != nil {
		t.Fatal(err)
	}
	// Disabled: both stop, and start again when enabled; a disabled user makes none.
	if _, err := s.SetUserDisabled(ctx, "alice", true, time.Now(), cliAudit); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{adminSecret, viewerSecret} {
		if got := refusal(t, s, secret); got != "owner disabled" {
			t.Errorf("disabled owner's token: refused %q", got)
		}
	}
	if _, _, err := s.CreateToken(ctx, NewToken{Name: "x", Role: RoleViewer, OwnerID: alice.ID}, cliAudit); !errors.Is(err, ErrConflict) {
		t.Errorf("token of a disabled user: %v, want ErrConflict", err)
	}
	if _, err := s.SetUserDisabled(ctx, "alice", false, time.Now(), cliAudit); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, s, adminSecret); got != "" {
		t.Errorf("enabled again: refused %q", got)
	}

	// Deleted: every token of hers is revoked in the same transaction, audited.
	if _, err := s.DeleteUser(ctx, "alice", Audit{Actor: "user:root", RemoteAddr: "192.0.2.5"}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{adminSecret, viewerSecret} {
		if got := refusal(t, s, secret); got != "revoked" {
			t.Errorf("deleted owner's token: refused %q", got)
		}
	}
	if got := refusal(t, s, cliSecret); got != "" {
		t.Errorf("the operator's token: refused %q", got)
	}
	events, err := s.AuditEvents(ctx, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s %s %s %v", e.Actor, e.Action, e.Target, e.Detail["reason"]))
	}
	want := []string{
		"user:root user.delete alice <nil>",
		"user:root token.revoke old owner deleted",
		"user:root token.revoke grafana owner deleted",
		"user:root token.revoke deploy owner deleted",
		"cli:tester user.enable alice <nil>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit:\n got %q\nwant %q", got, want)
	}
	if n := events[0].Detail["tokensRevoked"]; fmt.Sprint(n) != "3" {
		t.Errorf("user.delete tokensRevoked %v, want 3 (the expired one too)", n)
	}
	// The revoked tokens keep their owner's name; a deleted owner makes no token.
	list, err := s.Tokens(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range list {
		if tok.Name == "deploy" && (tok.Owner != "alice" || tok.OwnerID != 0 || tok.RevokedAt == nil) {
			t.Errorf("deploy after the deletion: %+v", tok)
		}
	}
	if _, _, err := s.CreateToken(ctx, NewToken{Name: "x", Role: RoleViewer, OwnerID: alice.ID}, cliAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("token of a deleted user: %v, want ErrNotFound", err)
	}
	// A user deleted behind the store's back (owner_id set NULL by the foreign key)
	// leaves tokens that do not work either.
	carol := mustUser(t, s, "carol", RoleViewer)
	_, carolSecret, err := s.CreateToken(ctx, NewToken{Name: "c", Role: RoleViewer, OwnerID: carol.ID}, cliAudit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, carol.ID); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, s, carolSecret); got != "owner deleted" {
		t.Errorf("token of a user deleted in SQL: refused %q", got)
	}
}

// TestMigrateTokenOwners: migration 42 gives the tokens made before it the owner their
// created_by names (a user, or a token of a user's, along chains), and a user deleted
// before it leaves tokens that no longer work.
func TestMigrateTokenOwners(t *testing.T) {
	db := mustDatabase(t, "tagdrift_owner")
	m, err := NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	// Back to just before 42 (one step for each later file).
	latest, err := Latest()
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for v := latest; v > 41; {
		if err := m.Down(1); err != nil {
			t.Fatal(err)
		}
		steps++
		if v, _, err = m.Version(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	s, err := Open(ctx, db.URL, nil, testBodies{1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO users (id, name, role, password_hash) VALUES (1, 'alice', 'admin', 'x');
		INSERT INTO api_tokens (id, name, role, hash, created_by) VALUES
			(1, 'a', 'admin', '\x01', 'user:alice'),
			(2, 'b', 'admin', '\x02', 'token:1:a'),
			(3, 'c', 'viewer', '\x03', 'token:2:b'),
			(4, 'd', 'admin', '\x04', 'user:gone'),
			(5, 'e', 'admin', '\x05', 'token:4:d'),
			(6, 'f', 'admin', '\x06', 'cli:ops'),
			(7, 'g', 'admin', '\x07', 'token:6:f'),
			(8, 'h', 'admin', '\x08', 'admin-token')`); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT name || '=' || coalesce(owner_id::text, '-') || ':' || coalesce(owner_name, '-') FROM api_tokens ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := "[a=1:alice b=1:alice c=1:alice d=-:gone e=-:gone f=-:- g=-:- h=-:-]"
	if fmt.Sprint(got) != want {
		t.Errorf("owners after migration 42 (%d steps down):\n got %v\nwant %s", steps, got, want)
	}
}
