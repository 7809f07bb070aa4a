package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// User is a user of the web UI.
type User struct {
	ID        int64
	Name      string
	Role      string
	CreatedAt time.Time
}

// NewUser is a user to add; PasswordHash is already hashed (package server/password).
type NewUser struct {
	Name         string
	Role         string
	PasswordHash string
}

// AddUser adds a user; ErrConflict when the name is taken. The hash must be an argon2id
// PHC string: the check keeps a plain password from being stored by mistake.
func (s *Store) AddUser(ctx context.Context, nu NewUser, a Audit) (User, error) {
	if nu.Name == "" {
		return User{}, errors.New("add user: name is empty")
	}
	if err := validRole(nu.Role); err != nil {
		return User{}, fmt.Errorf("add user %q: %w", nu.Name, err)
	}
	if !strings.HasPrefix(nu.PasswordHash, "$argon2id$") {
		return User{}, fmt.Errorf("add user %q: password hash is not an argon2id PHC string", nu.Name)
	}
	var u User
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3)
			RETURNING id, name, role, created_at`, nu.Name, nu.Role, nu.PasswordHash).
			Scan(&u.ID, &u.Name, &u.Role, &u.CreatedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("name taken: %w", ErrConflict)
		}
		if err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionUserAdd, u.Name, map[string]any{"id": u.ID, "role": u.Role})
	})
	if err != nil {
		return User{}, fmt.Errorf("add user %q: %w", nu.Name, err)
	}
	return u, nil
}

// UserPasswordHash returns a user and the stored hash of its password, for a login;
// ErrNotFound when no user has that name.
func (s *Store) UserPasswordHash(ctx context.Context, name string) (User, string, error) {
	var u User
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT id, name, role, created_at, password_hash FROM users WHERE name = $1`, name).
		Scan(&u.ID, &u.Name, &u.Role, &u.CreatedAt, &hash)
	if err != nil {
		return User{}, "", fmt.Errorf("user %q: %w", name, notFound(err))
	}
	return u, hash, nil
}
