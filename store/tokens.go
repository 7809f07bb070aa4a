package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Roles of API tokens and users.
const (
	RoleViewer = "viewer" // reads everything but secrets
	RoleAdmin  = "admin"  // also manages clusters, tokens and users
)

// Token is an API token, without its secret.
type Token struct {
	ID         int64
	Name       string
	Role       string
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
}

// NewToken is a token to make.
type NewToken struct {
	Name      string
	Role      string
	ExpiresAt *time.Time // nil: never expires
}

// tokenPrefix marks tagdrift's secrets, so that secret scanners and people recognize one.
const tokenPrefix = "tdt_"

func validRole(role string) error {
	if role != RoleViewer && role != RoleAdmin {
		return fmt.Errorf("role must be %s or %s, not %q", RoleViewer, RoleAdmin, role)
	}
	return nil
}

// hashSecret is what is stored of a secret. A secret holds 256 random bits, so a fast
// hash cannot be reversed, and a lookup by hash needs no constant-time comparison.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

const tokenColumns = `id, name, role, created_by, created_at, last_used_at, expires_at, revoked_at`

func scanToken(row pgx.Row) (Token, error) {
	var t Token
	err := row.Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.RevokedAt)
	return t, err
}

// timeDetail is a time as the audit trail shows it: RFC 3339 UTC, or null.
func timeDetail(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// CreateToken makes a token and returns it with its secret, the only time the secret is
// seen: only its SHA-256 is stored. The secret is "tdt_" and 43 base64url characters
// (32 random bytes). An expiry in the past is allowed and makes a token that never
// works, which tests of expiry need.
func (s *Store) CreateToken(ctx context.Context, nt NewToken, a Audit) (Token, string, error) {
	if nt.Name == "" {
		return Token{}, "", errors.New("create token: name is empty")
	}
	if err := validRole(nt.Role); err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", nt.Name, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", nt.Name, err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	var t Token
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `
			INSERT INTO api_tokens (name, role, hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5)
			RETURNING `+tokenColumns, nt.Name, nt.Role, hashSecret(secret), a.Actor, nt.ExpiresAt))
		if err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionTokenCreate, t.Name,
			map[string]any{"id": t.ID, "role": t.Role, "expiresAt": timeDetail(t.ExpiresAt)})
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", nt.Name, err)
	}
	return t, secret, nil
}

// TokenBySecret returns the token a secret belongs to: ErrNotFound when it is unknown,
// revoked or expired at now. Errors never include the secret.
func (s *Store) TokenBySecret(ctx context.Context, secret string, now time.Time) (Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `
		SELECT `+tokenColumns+` FROM api_tokens
		WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
		hashSecret(secret), now))
	if err != nil {
		return Token{}, fmt.Errorf("token: %w", notFound(err))
	}
	return t, nil
}

// TouchToken records a token's last use at at. It writes only when the recorded last use
// is unset or more than a minute before at, so a busy token costs one write a minute,
// not one per request: LastUsedAt is exact to the minute. An unknown id is no error.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `
		UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`,
		id, at); err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

// Tokens returns up to limit tokens, revoked ones included, newest first, with ids below
// beforeID (0: from the newest).
func (s *Store) Tokens(ctx context.Context, beforeID int64, limit int) ([]Token, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+tokenColumns+` FROM api_tokens WHERE id < $1 ORDER BY id DESC LIMIT $2`, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes a token; ErrNotFound when no unrevoked token has that id.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time, a Audit) (Token, error) {
	var t Token
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `
			UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
			RETURNING `+tokenColumns, id, at))
		if err != nil {
			return notFound(err)
		}
		return recordAudit(ctx, tx, a, ActionTokenRevoke, t.Name, map[string]any{"id": t.ID, "role": t.Role})
	})
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %d: %w", id, err)
	}
	return t, nil
}
