package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// runCLIStdin is runCLI with something on stdin.
func runCLIStdin(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runStdin(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	return exitCode(err, &stderr), stdout.String(), stderr.String()
}

// accountsDB makes a migrated database and a store on it, and the environment that
// points the commands at it.
func accountsDB(t *testing.T) (*store.Store, map[string]string) {
	t.Helper()
	st, db := storetest.New(t, "tagdrift_cli")
	return st, map[string]string{"TAGDRIFT_DATABASE_URL": db.URL, "USER": "fallback"}
}

// mustCreateToken runs `tagdrift token create` and returns the secret it printed.
func mustCreateToken(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, env, append([]string{"token", "create"}, args...)...)
	if code != 0 {
		t.Fatalf("token create %q: exit %d, stderr %q", args, code, stderr)
	}
	if !strings.HasSuffix(stdout, "\n") || strings.Count(stdout, "\n") != 1 || !strings.HasPrefix(stdout, "tdt_") {
		t.Fatalf("token create printed %q, want the secret alone on one line", stdout)
	}
	if !strings.Contains(stderr, "shown once") || strings.Contains(stderr, strings.TrimSpace(stdout)) {
		t.Errorf("token create stderr %q: want the shown-once note and no secret", stderr)
	}
	return strings.TrimSpace(stdout)
}

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, env := accountsDB(t)

	admin := mustCreateToken(t, env, "--name", "first admin", "--role", "admin")
	tok, err := st.TokenBySecret(ctx, admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "first admin" || tok.Role != store.RoleAdmin || tok.ExpiresAt != nil ||
		!strings.HasPrefix(tok.CreatedBy, "cli:") || tok.CreatedBy == "cli:" {
		t.Errorf("created token %+v", tok)
	}

	before := time.Now()
	viewer := mustCreateToken(t, env, "--role=viewer", "--expires", "1h", "--name", "grafana")
	after := time.Now()
	vt, err := st.TokenBySecret(ctx, viewer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vt.Role != store.RoleViewer || vt.ExpiresAt == nil ||
		vt.ExpiresAt.Before(before.Add(time.Hour).Truncate(time.Microsecond)) || vt.ExpiresAt.After(after.Add(time.Hour)) {
		t.Errorf("token with --expires 1h: %+v, expiry %v", vt, vt.ExpiresAt)
	}
	if _, err := st.TokenBySecret(ctx, viewer, time.Now().Add(61*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token after its expiry: %v, want ErrNotFound", err)
	}

	code, stdout, stderr := runCLI(t, env, "token", "list")
	if code != 0 {
		t.Fatalf("token list: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "LAST USED") ||
		!strings.HasPrefix(lines[1], fmt.Sprint(vt.ID)+" ") || !strings.Contains(lines[1], "grafana") ||
		!strings.Contains(lines[1], vt.ExpiresAt.UTC().Format(time.RFC3339)) ||
		!strings.HasPrefix(lines[2], fmt.Sprint(tok.ID)+" ") || !strings.Contains(lines[2], "first admin") {
		t.Errorf("token list:\n%s", stdout)
	}
	if strings.Contains(stdout, admin) || strings.Contains(stdout, viewer) {
		t.Error("token list shows a secret")
	}

	// Flags may come after the id, and the URL from the flag rather than the environment.
	code, stdout, stderr = runCLI(t, map[string]string{}, "token", "revoke", fmt.Sprint(tok.ID), "--database-url", env["TAGDRIFT_DATABASE_URL"])
	if code != 0 || stdout != "" || !strings.Contains(stderr, "revoked") {
		t.Fatalf("token revoke: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := st.TokenBySecret(ctx, admin, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token: %v, want ErrNotFound", err)
	}
	if _, err := st.TokenBySecret(ctx, viewer, time.Now()); err != nil {
		t.Errorf("the other token after a revocation: %v", err)
	}
	code, _, stderr = runCLI(t, env, "token", "revoke", fmt.Sprint(tok.ID))
	if code == 0 || !strings.Contains(stderr, "revoked already") {
		t.Errorf("revoking twice: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ = runCLI(t, env, "token", "list")
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasSuffix(lines[1], " -") || strings.HasSuffix(lines[2], " -") {
		t.Errorf("token list after a revocation: want the admin token's REVOKED set, the other's not:\n%s", stdout)
	}

	events, err := st.AuditEvents(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if !strings.HasPrefix(e.Actor, "cli:") || e.Actor == "cli:" {
			t.Errorf("audit actor %q, want cli:<user>", e.Actor)
		}
		got = append(got, e.Action+" "+e.Target)
	}
	want := "token.revoke first admin, token.create grafana, token.create first admin"
	if strings.Join(got, ", ") != want {
		t.Errorf("audit trail %q, want %q", strings.Join(got, ", "), want)
	}
}

func TestUserAdd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, env := accountsDB(t)

	for _, tt := range []struct {
		name, role, stdin, password string
	}{
		{"alice", "admin", "correct horse\n", "correct horse"},
		{"bob", "viewer", "  spaces kept  \r\n", "  spaces kept  "},
		{"carol", "viewer", "no newline", "no newline"},
		{"dave", "viewer", "first line\nsecond line\n", "first line"},
	} {
		// The name may come before or after the flags.
		args := []string{"user", "add", tt.name, "--role", tt.role}
		if tt.name == "bob" {
			args = []string{"user", "add", "--role=" + tt.role, tt.name}
		}
		code, stdout, stderr := runCLIStdin(t, env, tt.stdin, args...)
		if code != 0 || stdout != "" || !strings.Contains(stderr, "added") || strings.Contains(stderr, tt.password) {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		u, hash, err := st.UserPasswordHash(ctx, tt.name)
		if err != nil || u.Role != tt.role {
			t.Fatalf("user %s: %+v, %v", tt.name, u, err)
		}
		if ok, err := password.Verify(tt.password, hash); !ok || err != nil {
			t.Errorf("user %s: Verify(%q) = %v, %v", tt.name, tt.password, ok, err)
		}
		if ok, _ := password.Verify(tt.stdin, hash); ok && tt.stdin != tt.password {
			t.Errorf("user %s: the line ending became part of the password", tt.name)
		}
	}

	code, _, stderr := runCLIStdin(t, env, "other\n", "user", "add", "alice", "--role", "viewer")
	if code != 2 || !strings.Contains(stderr, `user "alice" exists already`) {
		t.Errorf("taken name: exit %d, stderr %q", code, stderr)
	}
	for stdin, want := range map[string]string{
		"":                                 "no password on stdin",
		"\n":                               "no password on stdin",
		strings.Repeat("x", 2000) + "\n":   "longer than 1024 bytes",
		strings.Repeat("x", 1025) + "\r\n": "longer than 1024 bytes",
	} {
		code, _, stderr := runCLIStdin(t, env, stdin, "user", "add", "erin", "--role", "viewer")
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("stdin of %d bytes: exit %d, stderr %q; want %q", len(stdin), code, stderr, want)
		}
	}
	if _, _, err := st.UserPasswordHash(ctx, "erin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused user was added: %v", err)
	}

	events, err := st.AuditEvents(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("%d audit events, want one per user added", len(events))
	}
	for _, e := range events {
		if e.Action != store.ActionUserAdd || !strings.HasPrefix(e.Actor, "cli:") || e.Actor == "cli:" || e.Detail["role"] == nil {
			t.Errorf("audit event %+v", e)
		}
	}
}

func TestAccountUsageErrors(t *testing.T) {
	t.Parallel()
	db := map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://127.0.0.1:1/none"}
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{db, []string{"token"}, "Usage:"},
		{db, []string{"token", "frob"}, `unexpected argument frob`},
		{db, []string{"token", "create", "--role", "admin"}, "--name is required"},
		{db, []string{"token", "create", "--name", " ", "--role", "admin"}, "--name is required"},
		{db, []string{"token", "create", "--name", "x"}, "--role is required: admin or viewer"},
		{db, []string{"token", "create", "--name", "x", "--role", "root"}, `--role must be admin or viewer, not "root"`},
		{db, []string{"token", "create", "--name", "x", "--role", "admin", "--expires", "30d"}, `--expires: expected duration but got "30d"`},
		{db, []string{"token", "create", "--name", "x", "--role", "admin", "--expires=-1h"}, "--expires must be positive"},
		{db, []string{"token", "create", "--name", "x", "--role", "admin", "extra"}, "unexpected argument extra"},
		{db, []string{"token", "create", "--no-such-flag"}, "unknown flag --no-such-flag"},
		{map[string]string{}, []string{"token", "create", "--name", "x", "--role", "admin"}, "no database: set --database-url or TAGDRIFT_DATABASE_URL"},
		{db, []string{"token", "list", "extra"}, "unexpected argument extra"},
		{db, []string{"token", "revoke"}, `expected "<id>"`},
		{db, []string{"token", "revoke", "abc"}, `<id>: expected a valid 64 bit int but got "abc"`},
		{db, []string{"token", "revoke", "0"}, `token revoke takes a token id, not 0`},
		{db, []string{"token", "revoke", "1", "2"}, "unexpected argument 2"},
		{db, []string{"user"}, "Usage:"},
		{db, []string{"user", "delete", "bob"}, `unexpected argument delete`},
		{db, []string{"user", "add", "--role", "admin"}, "user add needs a user name"},
		{db, []string{"user", "add", "", "--role", "admin"}, "user add needs a user name"},
		{db, []string{"user", "add", "bob", "carol", "--role", "admin"}, "unexpected argument carol"},
		{db, []string{"user", "add", "bob"}, "--role is required"},
		{db, []string{"user", "add", "bob", "--role", "owner"}, `--role must be admin or viewer, not "owner"`},
		{map[string]string{}, []string{"user", "add", "bob", "--role", "admin"}, "no database"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLIStdin(t, tt.env, "pw\n", tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	for _, args := range [][]string{{"token", "create", "--help"}, {"token", "revoke", "-h"}, {"user", "add", "--help"}, {"token", "help"}, {"user", "help"}} {
		code, stdout, stderr := runCLI(t, db, args...)
		if code != 0 || !strings.Contains(stdout+stderr, "Usage:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the usage", args, code, stdout, stderr)
		}
	}
	if code, stdout, _ := runCLI(t, db, "help"); code != 0 || !strings.Contains(stdout, "token create") || !strings.Contains(stdout, "token revoke") || !strings.Contains(stdout, "user add") {
		t.Errorf("tagdrift help does not list the token and user commands:\n%s", stdout)
	}
}

// TestScopeCommands checks `tagdrift user scope` and `tagdrift token scope`: a user's
// role scoped to cluster groups and back to every cluster, a token never wider than
// its owner's scope, unknown names refused.
func TestScopeCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, env := accountsDB(t)
	for _, g := range []string{"eu", "us"} {
		if _, err := st.CreateGroup(ctx, g, store.Audit{Actor: "cli:test"}); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runCLIStdin(t, env, "pw-of-ann\n", "user", "add", "ann", "--role", "viewer"); code != 0 {
		t.Fatalf("user add: %d %s", code, stderr)
	}
	code, _, stderr := runCLI(t, env, "user", "scope", "ann", "--group", "eu", "--group", "us")
	if code != 0 || !strings.Contains(stderr, "the clusters of eu, us") {
		t.Fatalf("user scope: exit %d, %q", code, stderr)
	}
	u, _ := st.UserByName(ctx, "ann")
	if sc := u.Grants.ReadScope(); !sc.Limited || len(sc.GroupIDs) != 2 {
		t.Errorf("ann's scope: %+v", u.Grants)
	}
	tok, _, err := st.CreateToken(ctx, store.NewToken{Name: "ci", Role: store.RoleViewer, OwnerID: u.ID}, store.Audit{Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, env, "token", "scope", fmt.Sprint(tok.ID)); code == 0 || !strings.Contains(stderr, "wider than its owner") {
		t.Errorf("token scope wider than its owner: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "token", "scope", fmt.Sprint(tok.ID), "--group", "eu"); code != 0 {
		t.Errorf("token scope eu: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "user", "scope", "ann", "--group", "nope"); code == 0 || !strings.Contains(stderr, "no such") {
		t.Errorf("unknown group: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "user", "scope", "ann"); code != 0 || !strings.Contains(stderr, "every cluster") {
		t.Errorf("back to every cluster: exit %d, %q", code, stderr)
	}
	if u, _ := st.UserByName(ctx, "ann"); u.Grants.ReadScope().Limited {
		t.Errorf("ann's scope after clearing: %+v", u.Grants)
	}
	// Grants combine: viewer on every cluster, admin on eu.
	code, _, stderr = runCLI(t, env, "user", "grants", "ann", "--viewer", "*", "--admin", "eu")
	if code != 0 || !strings.Contains(stderr, `"ann" holds admin on the clusters of eu; viewer on every cluster`) {
		t.Fatalf("user grants: exit %d, %q", code, stderr)
	}
	if u, _ := st.UserByName(ctx, "ann"); u.Role != store.RoleAdmin || u.Grants.ReadScope().Limited || !u.Grants.AdminScope().Limited {
		t.Errorf("ann's grants: %+v", u.Grants)
	}
	if code, _, stderr := runCLI(t, env, "user", "grants", "ann"); code == 0 || !strings.Contains(stderr, "--admin or --viewer") {
		t.Errorf("no grant: exit %d, %q", code, stderr)
	}
}
