package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// sessionAAD binds a session's sealed ID token to the session (its stored hash).
func sessionAAD(hash []byte) []byte { return []byte("session:" + hex.EncodeToString(hash)) }

// SetSessionIDToken keeps the provider's ID token with session id (migration 000062),
// sealed with the store's keys and bound to the session, for the sign-out at the
// provider; ErrNotFound when there is no such session.
func (s *Store) SetSessionIDToken(ctx context.Context, id, idToken string) error {
	hash := hashSecret(id)
	sealed, err := s.keys.Seal([]byte(idToken), sessionAAD(hash))
	if err != nil {
		return fmt.Errorf("keep the session's ID token: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET id_token = $2 WHERE hash = $1`, hash, sealed)
	if err != nil {
		return fmt.Errorf("keep the session's ID token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("keep the session's ID token: %w", ErrNotFound)
	}
	return nil
}

// SessionIDToken is the ID token kept with session id, live or not yet deleted; "" for
// a local sign-in's session, or none. Errors never include the id.
func (s *Store) SessionIDToken(ctx context.Context, id string) (string, error) {
	hash := hashSecret(id)
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT id_token FROM sessions WHERE hash = $1`, hash).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && sealed == nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the session's ID token: %w", err)
	}
	plain, err := s.keys.Open(sealed, sessionAAD(hash))
	if err != nil {
		return "", fmt.Errorf("the session's ID token: %w", err)
	}
	return string(plain), nil
}
