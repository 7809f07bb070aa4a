package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
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
	// OwnerID is the user the token acts for; 0 when it has none (made by the operator)
	// or its owner was deleted. Owner is that user's name, kept after a deletion; ""
	// for a token with no owner.
	OwnerID int64
	Owner   string
	// Grants are the roles the token holds (Role is the highest): its own, and, as
	// TokenBySecret returns them, cut to its owner's current grants too.
	Grants Grants
}

// NewToken is a token to make.
type NewToken struct {
	Name      string
	Role      string
	ExpiresAt *time.Time // nil: never expires
	// OwnerID is the user the token acts for (the user who makes it, or the owner of
	// the token it is made with); 0 for none, for the operator's tokens. The owner must
	// exist, be enabled and, for an admin token, be an admin.
	OwnerID int64
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

// tokenColumns are a token's columns, of api_tokens named t.
var tokenColumns = `t.id, t.name, t.role, t.created_by, t.created_at, t.last_used_at, t.expires_at, t.revoked_at,
	coalesce(t.owner_id, 0), coalesce(t.owner_name, ''), ` + grantsSQL("token_grants", "token_id", "t.id")

func scanToken(row pgx.Row, more ...any) (Token, error) {
	var t Token
	var grants grantRows
	err := row.Scan(append([]any{&t.ID, &t.Name, &t.Role, &t.CreatedBy, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.RevokedAt,
		&t.OwnerID, &t.Owner, &grants}, more...)...)
	t.Grants = grants.grants()
	return t, err
}

// RefusedTokenError is a known token that may not be used, and why: it wraps
// ErrNotFound, so that it answers as an unknown token does, and says which token it
// was, so that the refusal can be traced to an account.
type RefusedTokenError struct {
	Token Token
	// Reason is "revoked", "expired", "owner deleted", "owner disabled" or "owner not
	// an admin".
	Reason string
}

func (e *RefusedTokenError) Error() string {
	return fmt.Sprintf("token %d: %s: %v", e.Token.ID, e.Reason, ErrNotFound)
}

func (e *RefusedTokenError) Unwrap() error { return ErrNotFound }

// ownerState is what a token's use needs of its owner.
type ownerState struct {
	exists, disabled bool
	role             string
}

// refusal is why t may not be used at now, given its owner; "" when it may.
func (t Token) refusal(now time.Time, o ownerState) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !t.ExpiresAt.After(now):
		return "expired"
	case t.Owner == "":
		return "" // the operator's
	case !o.exists:
		return "owner deleted"
	case o.disabled:
		return "owner disabled"
	case t.Role == RoleAdmin && o.role != RoleAdmin:
		return "owner not an admin"
	}
	return ""
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
		var (
			ownerID   *int64
			ownerName *string
		)
		grants := OneGrant(nt.Role, Scope{})
		if nt.OwnerID != 0 {
			// Locked until the token is in, so that a deletion, a disabling or a
			// demotion at the same time either comes first and refuses this, or comes
			// after and sees the token.
			o, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR SHARE`, nt.OwnerID))
			if err != nil {
				return fmt.Errorf("owner: %w", notFound(err))
			}
			if o.DisabledAt != nil {
				return fmt.Errorf("owner %q is disabled: %w", o.Name, ErrConflict)
			}
			if nt.Role == RoleAdmin && o.Role != RoleAdmin {
				return fmt.Errorf("owner %q is not an admin: %w", o.Name, ErrConflict)
			}
			ownerID, ownerName = &nt.OwnerID, &o.Name
			// It starts with its owner's grants up to its role, never wider.
			grants = grants.Cut(o.Grants)
		}
		var id int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO api_tokens (name, role, hash, created_by, expires_at, owner_id, owner_name)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			nt.Name, nt.Role, hashSecret(secret), a.Actor, nt.ExpiresAt, ownerID, ownerName).Scan(&id); err != nil {
			return err
		}
		if err := writeGrants(ctx, tx, "api_tokens", "token_grants", "token_id", id, grants); err != nil {
			return err
		}
		var err error
		if t, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.id = $1`, id)); err != nil {
			return err
		}
		detail := map[string]any{"id": t.ID, "role": t.Role, "expiresAt": timeDetail(t.ExpiresAt)}
		if t.Owner != "" {
			detail["owner"] = t.Owner
		}
		return recordAudit(ctx, tx, a, ActionTokenCreate, t.Name, detail)
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", nt.Name, err)
	}
	return t, secret, nil
}

// TokenBySecret returns the token a secret belongs to: ErrNotFound when it is unknown,
// and a *RefusedTokenError (which wraps ErrNotFound) when it is revoked, expired at now,
// or its owner is deleted, disabled or, for an admin token, no longer an admin. Errors
// never include the secret.
func (s *Store) TokenBySecret(ctx context.Context, secret string, now time.Time) (Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	var o ownerState
	var role *string
	var owner grantRows
	t, err := scanToken(s.pool.QueryRow(ctx, `
		SELECT `+tokenColumns+`, u.id IS NOT NULL, u.disabled_at IS NOT NULL, u.role, `+grantsSQL("user_grants", "user_id", "u.id")+`
		FROM api_tokens t LEFT JOIN users u ON u.id = t.owner_id
		WHERE t.hash = $1`,
		hashSecret(secret)), &o.exists, &o.disabled, &role, &owner)
	if err != nil {
		return Token{}, fmt.Errorf("token: %w", notFound(err))
	}
	if role != nil {
		o.role = *role
	}
	if reason := t.refusal(now, o); reason != "" {
		return Token{}, &RefusedTokenError{Token: t, Reason: reason}
	}
	if t.Owner != "" {
		// Never wider than its owner's grants now, whatever they were when it was made.
		t.Grants = t.Grants.Cut(owner.grants())
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
		SELECT `+tokenColumns+` FROM api_tokens t WHERE id < $1 ORDER BY id DESC LIMIT $2`, beforeID, limit)
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
			UPDATE api_tokens t SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
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

// revokeTokensOf revokes every unrevoked token user id owns, inside tx, at the
// database's time, each with a token.revoke event saying why; it returns how many.
func revokeTokensOf(ctx context.Context, tx pgx.Tx, userID int64, a Audit, reason string) (int, error) {
	rows, err := tx.Query(ctx, `
		UPDATE api_tokens t SET revoked_at = now() WHERE owner_id = $1 AND revoked_at IS NULL
		RETURNING `+tokenColumns, userID)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of user %d: %w", userID, err)
	}
	toks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) { return scanToken(r) })
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of user %d: %w", userID, err)
	}
	slices.SortFunc(toks, func(a, b Token) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range toks {
		if err := recordAudit(ctx, tx, a, ActionTokenRevoke, t.Name,
			map[string]any{"id": t.ID, "role": t.Role, "owner": t.Owner, "reason": reason}); err != nil {
			return 0, err
		}
	}
	return len(toks), nil
}
