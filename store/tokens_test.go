package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/pgtest"
)

var cliAudit = Audit{Actor: "cli:tester", RemoteAddr: ""}

func mustToken(t testing.TB, s *Store, name, role string, expires *time.Time) (Token, string) {
	t.Helper()
	tok, secret, err := s.CreateToken(context.Background(), NewToken{Name: name, Role: role, ExpiresAt: expires}, cliAudit)
	if err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

func TestCreateAndLookUpTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Tokens and users need no encryption key: the store works without a key ring.
	s, _ := mustStore(t, nil)
	now := time.Now()

	admin, adminSecret := mustToken(t, s, "ci", RoleAdmin, nil)
	viewer, viewerSecret := mustToken(t, s, "grafana", RoleViewer, nil)
	for _, secret := range []string{adminSecret, viewerSecret} {
		body, ok := strings.CutPrefix(secret, "tdt_")
		if raw, err := base64.RawURLEncoding.DecodeString(body); !ok || err != nil || len(raw) != 32 || len(body) != 43 {
			t.Errorf("secret %q is not tdt_ and 32 random bytes in base64url", secret)
		}
	}
	if adminSecret == viewerSecret {
		t.Fatal("two tokens share a secret")
	}
	if admin.ID == 0 || admin.Name != "ci" || admin.Role != RoleAdmin || admin.CreatedBy != "cli:tester" ||
		admin.CreatedAt.IsZero() || admin.LastUsedAt != nil || admin.ExpiresAt != nil || admin.RevokedAt != nil {
		t.Errorf("created token: %+v", admin)
	}

	for secret, want := range map[string]Token{adminSecret: admin, viewerSecret: viewer} {
		got, err := s.TokenBySecret(ctx, secret, now)
		if err != nil || got.ID != want.ID || got.Role != want.Role || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("TokenBySecret = %+v, %v; want %+v", got, err, want)
		}
	}

	// Unknown secrets: random, another prefix, one character changed, the stored hash.
	sum := sha256.Sum256([]byte(adminSecret))
	for _, secret := range []string{
		"", "tdt_", "tdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		strings.TrimPrefix(adminSecret, "tdt_"),
		adminSecret[:len(adminSecret)-1] + string(adminSecret[len(adminSecret)-1]^1),
		adminSecret + " ",
		hex.EncodeToString(sum[:]),
	} {
		_, err := s.TokenBySecret(ctx, secret, now)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("TokenBySecret(%q): %v, want ErrNotFound", secret, err)
		}
	}

	// Validation happens before anything is written.
	for _, nt := range []NewToken{{Name: "", Role: RoleAdmin}, {Name: "x", Role: "root"}, {Name: "x", Role: ""}} {
		if _, secret, err := s.CreateToken(ctx, nt, cliAudit); err == nil || secret != "" {
			t.Errorf("CreateToken(%+v) = %q, %v; want an error", nt, secret, err)
		}
	}
	list, err := s.Tokens(ctx, 0, 100)
	if err != nil || len(list) != 2 {
		t.Errorf("Tokens = %d tokens, %v; want 2", len(list), err)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	expires := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	tok, secret := mustToken(t, s, "temp", RoleViewer, &expires)
	if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(expires) {
		t.Errorf("ExpiresAt = %v, want %v", tok.ExpiresAt, expires)
	}
	for _, tt := range []struct {
		at    time.Time
		found bool
	}{
		{time.Now(), true},
		{expires.Add(-time.Microsecond), true},
		{expires, false},
		{expires.Add(time.Second), false},
	} {
		_, err := s.TokenBySecret(ctx, secret, tt.at)
		if tt.found && err != nil || !tt.found && !errors.Is(err, ErrNotFound) {
			t.Errorf("TokenBySecret at %v (expiry %v): %v, want found=%v", tt.at, expires, err, tt.found)
		}
	}

	// A token made already expired, as authorization tests need, never works.
	past := time.Now().Add(-time.Minute)
	_, old := mustToken(t, s, "expired", RoleAdmin, &past)
	if _, err := s.TokenBySecret(ctx, old, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token: %v, want ErrNotFound", err)
	}
}

func TestRevokeToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	tok, secret := mustToken(t, s, "laptop", RoleAdmin, nil)
	_, otherSecret := mustToken(t, s, "other", RoleAdmin, nil)
	at := time.Now().Truncate(time.Microsecond)

	revoked, err := s.RevokeToken(ctx, tok.ID, at, Audit{Actor: "token:ci", RemoteAddr: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if revoked.ID != tok.ID || revoked.Name != "laptop" || revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(at) {
		t.Errorf("RevokeToken = %+v", revoked)
	}
	_, err = s.TokenBySecret(ctx, secret, time.Now())
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token: %v, want ErrNotFound", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[4:]) {
		t.Errorf("error %q holds the secret", err)
	}
	if _, err := s.TokenBySecret(ctx, otherSecret, time.Now()); err != nil {
		t.Errorf("another token after a revocation: %v", err)
	}
	if _, err := s.RevokeToken(ctx, tok.ID, at, cliAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeToken(ctx, 99999, at, cliAudit); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown token: %v, want ErrNotFound", err)
	}
	list, err := s.Tokens(ctx, 0, 10)
	if err != nil || len(list) != 2 || list[1].ID != tok.ID || list[1].RevokedAt == nil || list[0].RevokedAt != nil {
		t.Errorf("Tokens after a revocation = %+v, %v", list, err)
	}
}

// TestTouchTokenThrottle checks that uses within a minute of the recorded one write
// nothing, and that a use after that minute does.
func TestTouchTokenThrottle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	tok, _ := mustToken(t, s, "busy", RoleViewer, nil)
	other, _ := mustToken(t, s, "idle", RoleViewer, nil)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)

	lastUsed := func(id int64) *time.Time {
		t.Helper()
		var at *time.Time
		if err := s.pool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	// xmin changes with every write of a row, even one that sets the same value.
	version := func(id int64) string {
		t.Helper()
		var v string
		if err := s.pool.QueryRow(ctx, `SELECT xmin::text FROM api_tokens WHERE id = $1`, id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	steps := []struct {
		at   time.Time
		want time.Time
	}{
		{t0, t0}, // first use
		{t0.Add(time.Second), t0},
		{t0.Add(59 * time.Second), t0},
		{t0.Add(time.Minute), t0},
		{t0.Add(time.Minute + time.Microsecond), t0.Add(time.Minute + time.Microsecond)},
		{t0.Add(90 * time.Second), t0.Add(time.Minute + time.Microsecond)},
		{t0.Add(-time.Hour), t0.Add(time.Minute + time.Microsecond)}, // a replica with a slow clock
		{t0.Add(time.Hour), t0.Add(time.Hour)},
	}
	writes := 0
	for _, st := range steps {
		before := version(tok.ID)
		if err := s.TouchToken(ctx, tok.ID, st.at); err != nil {
			t.Fatal(err)
		}
		if version(tok.ID) != before {
			writes++
		}
		if got := lastUsed(tok.ID); got == nil || !got.Equal(st.want) {
			t.Errorf("after a use at %v: last_used_at = %v, want %v", st.at, got, st.want)
		}
	}
	if writes != 3 {
		t.Errorf("%d uses wrote the row %d times, want 3", len(steps), writes)
	}
	if got := lastUsed(other.ID); got != nil {
		t.Errorf("touching one token set another's last use: %v", got)
	}
	if err := s.TouchToken(ctx, 99999, t0); err != nil {
		t.Errorf("touching an unknown token: %v", err)
	}
	got, err := s.Tokens(ctx, 0, 10)
	if err != nil || got[1].ID != tok.ID || got[1].LastUsedAt == nil || !got[1].LastUsedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Tokens shows LastUsedAt %v, %v", got[1].LastUsedAt, err)
	}
}

func TestTokensPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	var made []int64
	for i := range 7 {
		tok, _ := mustToken(t, s, fmt.Sprintf("t%d", i), RoleViewer, nil)
		made = append(made, tok.ID)
	}
	if _, err := s.RevokeToken(ctx, made[3], time.Now(), cliAudit); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var pages []int
	before := int64(0)
	for {
		page, err := s.Tokens(ctx, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(page))
		for _, tok := range page {
			got = append(got, tok.ID)
		}
		if len(page) < 3 {
			break
		}
		before = page[len(page)-1].ID
	}
	if fmt.Sprint(pages) != "[3 3 1]" {
		t.Errorf("page sizes %v, want [3 3 1]", pages)
	}
	for i, id := range got {
		if want := made[len(made)-1-i]; id != want {
			t.Fatalf("ids %v, want %v newest first", got, made)
		}
	}
	if len(got) != len(made) {
		t.Errorf("listed %d tokens, want %d (revoked included)", len(got), len(made))
	}
}

const fakeHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	u, err := s.AddUser(ctx, NewUser{Name: "alice", Role: RoleAdmin, PasswordHash: fakeHash}, cliAudit)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Name != "alice" || u.Role != RoleAdmin || u.CreatedAt.IsZero() {
		t.Errorf("AddUser = %+v", u)
	}
	got, hash, err := s.UserPasswordHash(ctx, "alice")
	if err != nil || !reflect.DeepEqual(got, u) || hash != fakeHash {
		t.Errorf("UserPasswordHash = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := s.UserPasswordHash(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	if _, err := s.AddUser(ctx, NewUser{Name: "alice", Role: RoleViewer, PasswordHash: fakeHash}, cliAudit); !errors.Is(err, ErrConflict) {
		t.Errorf("taken name: %v, want ErrConflict", err)
	}
	for _, nu := range []NewUser{
		{Name: "", Role: RoleViewer, PasswordHash: fakeHash},
		{Name: "carol", Role: "superuser", PasswordHash: fakeHash},
		{Name: "carol", Role: RoleViewer, PasswordHash: "hunter2"},
		{Name: "carol", Role: RoleViewer, PasswordHash: ""},
	} {
		if _, err := s.AddUser(ctx, nu, cliAudit); err == nil || errors.Is(err, ErrConflict) {
			t.Errorf("AddUser(%+v): %v, want a validation error", nu, err)
		}
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d users, %v; want 1", n, err)
	}
}

// TestAccountsAudit checks that every change is in the audit trail with who, what and
// from where, and that what failed left nothing there.
func TestAccountsAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, nil)
	api := Audit{Actor: "token:ci", RemoteAddr: "198.51.100.7"}
	expires := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	forever, _, err := s.CreateToken(ctx, NewToken{Name: "forever", Role: RoleViewer}, cliAudit)
	if err != nil {
		t.Fatal(err)
	}
	temp, _, err := s.CreateToken(ctx, NewToken{Name: "temp", Role: RoleAdmin, ExpiresAt: &expires}, api)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeToken(ctx, temp.ID, time.Now(), api); err != nil {
		t.Fatal(err)
	}
	u, err := s.AddUser(ctx, NewUser{Name: "alice", Role: RoleViewer, PasswordHash: fakeHash}, cliAudit)
	if err != nil {
		t.Fatal(err)
	}
	// Failures record nothing.
	s.RevokeToken(ctx, temp.ID, time.Now(), api)
	s.AddUser(ctx, NewUser{Name: "alice", Role: RoleViewer, PasswordHash: fakeHash}, cliAudit)
	s.CreateToken(ctx, NewToken{Name: "bad", Role: "root"}, cliAudit)

	events, err := s.AuditEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if e.At.IsZero() {
			t.Errorf("event %d has no time", e.ID)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %v", e.Actor, e.RemoteAddr, e.Action, e.Target, e.Detail))
	}
	want := []string{
		fmt.Sprintf("cli:tester  user.add alice map[id:%d role:viewer]", u.ID),
		fmt.Sprintf("token:ci 198.51.100.7 token.revoke temp map[id:%d role:admin]", temp.ID),
		fmt.Sprintf("token:ci 198.51.100.7 token.create temp map[expiresAt:2031-05-06T07:08:09Z id:%d role:admin]", temp.ID),
		fmt.Sprintf("cli:tester  token.create forever map[expiresAt:<nil> id:%d role:viewer]", forever.ID),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTokenSecretsNotStored checks a real pg_dump of the database: the secrets appear
// nowhere, not in a column, not in the audit trail, only their SHA-256 in hash.
func TestTokenSecretsNotStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := mustStore(t, nil)
	var secrets []string
	for i, role := range []string{RoleAdmin, RoleViewer, RoleAdmin} {
		tok, secret := mustToken(t, s, fmt.Sprintf("tok%d", i), role, nil)
		secrets = append(secrets, secret)
		if i == 2 {
			if _, err := s.RevokeToken(ctx, tok.ID, time.Now(), cliAudit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.TouchToken(ctx, tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	dump, err := exec.Command("pg_dump", "--dbname", db.URL).CombinedOutput()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("pg_dump: %v\n%s", err, dump)
		}
		t.Skipf("pg_dump unavailable: %v", err)
	}
	for _, table := range []string{"COPY public.api_tokens", "COPY public.audit_events", "token.create", "token.revoke"} {
		if !strings.Contains(string(dump), table) {
			t.Fatalf("the dump lacks %q:\n%s", table, dump)
		}
	}
	for _, secret := range secrets {
		body := strings.TrimPrefix(secret, "tdt_")
		raw, _ := base64.RawURLEncoding.DecodeString(body)
		for _, form := range []string{body, body[:16], hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw)[:16]} {
			if strings.Contains(string(dump), form) {
				t.Errorf("the dump contains the secret %q (as %q)", secret, form)
			}
		}
		sum := sha256.Sum256([]byte(secret))
		if !strings.Contains(string(dump), `\x`+hex.EncodeToString(sum[:])) {
			t.Errorf("the dump lacks the SHA-256 of a secret")
		}
	}
}
