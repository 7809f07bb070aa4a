package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustUser(t testing.TB, s *Store, name, role string) User {
	t.Helper()
	u, err := s.AddUser(context.Background(), NewUser{Name: name, Role: role, PasswordHash: fakeHash}, cliAudit)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var uiAudit = Audit{Actor: "user:root", RemoteAddr: "192.0.2.7:1234"}

// auditActions returns the actions recorded for target, oldest first.
func auditActions(t testing.TB, s *Store, target string) []string {
	t.Helper()
	evs, err := s.FindAuditEvents(context.Background(), AuditFilter{Target: target, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Action)
	}
	return out
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	alice := mustUser(t, s, "alice", RoleAdmin)
	to := SessionTimeouts{Idle: 12 * time.Hour, Absolute: 7 * 24 * time.Hour}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

	id, sess, err := s.CreateSession(ctx, alice.ID, t0, uiAudit)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 43 || sess.User.Name != "alice" || !sess.CreatedAt.Equal(t0) {
		t.Fatalf("CreateSession = %q, %+v", id, sess)
	}
	id2, _, err := s.CreateSession(ctx, alice.ID, t0, uiAudit)
	if err != nil || id2 == id {
		t.Fatalf("a second sign-in gave %q, %v; want a new id", id2, err)
	}

	// Only the hash is stored: no column holds the id.
	var hash []byte
	var row string
	if err := s.pool.QueryRow(ctx, `SELECT hash, s::text FROM sessions s WHERE user_id = $1 ORDER BY created_at, hash LIMIT 1`, alice.ID).Scan(&hash, &row); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hash, hashSecret(id)) && !bytes.Equal(hash, hashSecret(id2)) {
		t.Errorf("stored hash %x is the SHA-256 of neither id", hash)
	}
	if strings.Contains(row, id) || strings.Contains(row, id2) {
		t.Errorf("the sessions row holds a session id: %s", row)
	}

	got, err := s.Session(ctx, id, t0.Add(30*time.Second), to)
	if err != nil || got.User.ID != alice.ID || got.User.Role != RoleAdmin || !got.LastSeenAt.Equal(t0) {
		t.Fatalf("Session = %+v, %v; want alice's, last seen at t0 (no write within a minute)", got, err)
	}
	// Used within the idle timeout, over and over, the session lives ...
	at := t0
	for range 13 {
		at = at.Add(11 * time.Hour)
		if got, err = s.Session(ctx, id, at, to); err != nil {
			t.Fatalf("Session at %s: %v", at, err)
		}
		if !got.LastSeenAt.Equal(at) {
			t.Fatalf("last seen %s, want %s", got.LastSeenAt, at)
		}
		if at.Sub(t0) > 6*24*time.Hour {
			break
		}
	}
	// ... until the absolute timeout, whatever its use.
	if _, err := s.Session(ctx, id, t0.Add(to.Absolute), to); !errors.Is(err, ErrNotFound) {
		t.Errorf("a session at its absolute timeout: %v, want ErrNotFound", err)
	}
	// The second one, never used, ends after the idle timeout.
	if _, err := s.Session(ctx, id2, t0.Add(to.Idle-time.Second), to); err != nil {
		t.Errorf("a session just within the idle timeout: %v", err)
	}
	if _, err := s.Session(ctx, id2, t0.Add(to.Idle-time.Second).Add(to.Idle), to); !errors.Is(err, ErrNotFound) {
		t.Errorf("an idle session: %v, want ErrNotFound", err)
	}
	n, err := s.DeleteExpiredSessions(ctx, t0.Add(to.Absolute), to)
	if err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want both", n, err)
	}

	// Malformed and unknown ids.
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), id + "A", id[:42] + "!", string(hashSecret(id))} {
		if _, err := s.Session(ctx, bad, t0, to); !errors.Is(err, ErrNotFound) {
			t.Errorf("Session(%q): %v, want ErrNotFound", bad, err)
		}
	}

	// Sign-out deletes the session.
	id3, _, err := s.CreateSession(ctx, alice.ID, t0, uiAudit)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, id3, uiAudit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, id3, t0, to); !errors.Is(err, ErrNotFound) {
		t.Errorf("a signed-out session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, id3, uiAudit); err != nil {
		t.Errorf("signing out twice: %v", err)
	}
	want := []string{"user.add", "user.signin", "user.signin", "user.signin", "user.signout"}
	if got := auditActions(t, s, "alice"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit trail of alice: %v, want %v", got, want)
	}

	if _, _, err := s.CreateSession(ctx, 1<<40, t0, uiAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("a session for no user: %v, want ErrNotFound", err)
	}
}

func TestUserAdministration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	root := mustUser(t, s, "root", RoleAdmin)
	bob := mustUser(t, s, "bob", RoleViewer)
	to := SessionTimeouts{Idle: time.Hour, Absolute: 24 * time.Hour}
	now := time.Now()

	// The only admin can be neither demoted, disabled nor deleted.
	if _, err := s.SetUserRole(ctx, "root", RoleViewer, uiAudit); !errors.Is(err, ErrLastAdmin) || !errors.Is(err, ErrConflict) {
		t.Errorf("demoting the last admin: %v, want ErrLastAdmin", err)
	}
	if _, err := s.SetUserDisabled(ctx, "root", true, now, uiAudit); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("disabling the last admin: %v, want ErrLastAdmin", err)
	}
	if _, err := s.DeleteUser(ctx, "root", uiAudit); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("deleting the last admin: %v, want ErrLastAdmin", err)
	}

	// Roles.
	if _, err := s.SetUserRole(ctx, "bob", "root", uiAudit); err == nil {
		t.Error("an unknown role was set")
	}
	if _, err := s.SetUserRole(ctx, "nobody", RoleAdmin, uiAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("role of an unknown user: %v, want ErrNotFound", err)
	}
	u, err := s.SetUserRole(ctx, "bob", RoleAdmin, uiAudit)
	if err != nil || u.Role != RoleAdmin {
		t.Fatalf("SetUserRole = %+v, %v", u, err)
	}
	if u, err := s.SetUserRole(ctx, "bob", RoleAdmin, uiAudit); err != nil || u.Role != RoleAdmin {
		t.Fatalf("SetUserRole again = %+v, %v", u, err)
	}
	// With two admins, one may go.
	if _, err := s.SetUserRole(ctx, "root", RoleViewer, uiAudit); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	if _, err := s.SetUserRole(ctx, "root", RoleAdmin, uiAudit); err != nil {
		t.Fatal(err)
	}

	// Disabling ends the user's sessions and refuses new ones; enabling allows them again.
	id, _, err := s.CreateSession(ctx, bob.ID, now, uiAudit)
	if err != nil {
		t.Fatal(err)
	}
	u, err = s.SetUserDisabled(ctx, "bob", true, now, uiAudit)
	if err != nil || u.DisabledAt == nil {
		t.Fatalf("SetUserDisabled = %+v, %v", u, err)
	}
	if _, err := s.Session(ctx, id, now, to); !errors.Is(err, ErrNotFound) {
		t.Errorf("a disabled user's session: %v, want ErrNotFound", err)
	}
	if _, _, err := s.CreateSession(ctx, bob.ID, now, uiAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("a session for a disabled user: %v, want ErrNotFound", err)
	}
	if got, _, err := s.UserPasswordHash(ctx, "bob"); err != nil || got.DisabledAt == nil {
		t.Errorf("UserPasswordHash of a disabled user = %+v, %v; want it, marked disabled", got, err)
	}
	// A disabled admin does not count: root is now the last enabled one.
	if _, err := s.DeleteUser(ctx, "root", uiAudit); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("deleting the last enabled admin: %v, want ErrLastAdmin", err)
	}
	if u, err = s.SetUserDisabled(ctx, "bob", false, now, uiAudit); err != nil || u.DisabledAt != nil {
		t.Fatalf("enable = %+v, %v", u, err)
	}
	id, _, err = s.CreateSession(ctx, bob.ID, now, uiAudit)
	if err != nil {
		t.Fatal(err)
	}

	// Deleting ends the sessions too.
	if _, err := s.DeleteUser(ctx, "bob", uiAudit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, id, now, to); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted user's session: %v, want ErrNotFound", err)
	}
	if _, err := s.UserByName(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserByName of a deleted user: %v", err)
	}
	if _, err := s.DeleteUser(ctx, "bob", uiAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || users[0].ID != root.ID {
		t.Errorf("Users = %+v, %v; want root only", users, err)
	}

	want := "user.add user.role user.signin user.disable user.enable user.signin user.delete"
	if got := strings.Join(auditActions(t, s, "bob"), " "); got != want {
		t.Errorf("bob's audit trail: %s, want %s", got, want)
	}
	evs, err := s.FindAuditEvents(ctx, AuditFilter{Actor: "user:root", Action: "user.disable", Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Target != "bob" || evs[0].RemoteAddr != "192.0.2.7:1234" || evs[0].Detail["sessionsEnded"] != float64(1) {
		t.Errorf("the disable event: %+v, %v", evs, err)
	}
}

func TestFindAuditEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	mustUser(t, s, "root", RoleAdmin)
	mustUser(t, s, "carol", RoleViewer)
	if _, err := s.SetUserRole(ctx, "carol", RoleAdmin, uiAudit); err != nil {
		t.Fatal(err)
	}
	mustToken(t, s, "ci", RoleViewer, nil)

	count := func(f AuditFilter) int {
		t.Helper()
		f.Limit = 100
		evs, err := s.FindAuditEvents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	hour := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		f    AuditFilter
		want int
	}{
		{AuditFilter{}, 4},
		{AuditFilter{Action: "user."}, 3},
		{AuditFilter{Action: "user"}, 0},
		{AuditFilter{Action: "user.add"}, 2},
		{AuditFilter{Action: "token."}, 1},
		{AuditFilter{Actor: "user:root"}, 1},
		{AuditFilter{Actor: "cli:tester", Target: "carol"}, 1},
		{AuditFilter{Target: "carol"}, 2},
		{AuditFilter{Since: hour}, 4},
		{AuditFilter{Until: hour}, 0},
		{AuditFilter{Since: time.Now().Add(time.Hour)}, 0},
		{AuditFilter{Target: "'; DROP TABLE users; --"}, 0},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("FindAuditEvents(%+v): %d events, want %d", c.f, got, c.want)
		}
	}
	all, _ := s.FindAuditEvents(ctx, AuditFilter{Limit: 2})
	rest, _ := s.FindAuditEvents(ctx, AuditFilter{BeforeID: all[1].ID, Limit: 100})
	if len(all) != 2 || len(rest) != 2 || rest[0].ID >= all[1].ID {
		t.Errorf("paging: %d then %d", len(all), len(rest))
	}
}
