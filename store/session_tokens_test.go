package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestSessionIDToken: a session keeps the provider's ID token sealed (not as text in
// the database), bound to the session (another session's sealed token does not open as
// its own), and it goes with the session.
func TestSessionIDToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	u := mustUser(t, s, "ada", RoleViewer)
	now := time.Now()
	id, _, err := s.CreateSession(ctx, u.ID, now, uiAudit)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateSession(ctx, u.ID, now, uiAudit)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := s.SessionIDToken(ctx, id); err != nil || tok != "" {
		t.Fatalf("a local session's ID token: %q, %v", tok, err)
	}
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdWItYWRhIn0.c2lnbmF0dXJl"
	if err := s.SetSessionIDToken(ctx, id, token); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSessionIDToken(ctx, "no-such-session", token); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown session's ID token: %v, want ErrNotFound", err)
	}
	if tok, err := s.SessionIDToken(ctx, id); err != nil || tok != token {
		t.Fatalf("the session's ID token: %q, %v", tok, err)
	}
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT id_token FROM sessions WHERE hash = $1`, hashSecret(id)).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("eyJ")) {
		t.Errorf("the ID token is stored as text: %q", sealed)
	}
	// Bound to its session: moved to another, it does not open.
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET id_token = $2 WHERE hash = $1`, hashSecret(other), sealed); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.SessionIDToken(ctx, other); err == nil {
		t.Errorf("another session's sealed token opened as its own: %q", tok)
	}
	if err := s.DeleteSession(ctx, id, uiAudit); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.SessionIDToken(ctx, id); err != nil || tok != "" {
		t.Errorf("a deleted session's ID token: %q, %v", tok, err)
	}
}
