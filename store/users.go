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
	// DisabledAt is when the user was disabled; nil for a user who may sign in.
	DisabledAt *time.Time
	// Tokens counts the user's live API tokens (unrevoked, unexpired); only Users
	// fills it.
	Tokens int
	// Provider is the issuer URL of the OpenID Connect provider the user signs in
	// through, and Subject the provider's id of the user; both empty for a local user
	// (one with a password).
	Provider, Subject string
	// LastSignInAt is when the user last signed in; nil for never (or before it was
	// recorded).
	LastSignInAt *time.Time
	// Grants are the roles the user holds, on every cluster or on some cluster groups
	// (grants.go); Role is the highest of them.
	Grants Grants
}

// userColumns are a user's columns, of the table users (not aliased).
var userColumns = `id, name, role, created_at, disabled_at, coalesce(provider, ''), coalesce(subject, ''), last_sign_in_at,
	` + userGrantsSQL

var userGrantsSQL = grantsSQL("user_grants", "user_id", "users.id")

func scanUser(row pgx.Row, more ...any) (User, error) {
	var u User
	var grants grantRows
	err := row.Scan(append([]any{&u.ID, &u.Name, &u.Role, &u.CreatedAt, &u.DisabledAt, &u.Provider, &u.Subject, &u.LastSignInAt,
		&grants}, more...)...)
	u.Grants = grants.grants()
	return u, err
}

// NewUser is a user to add; PasswordHash is already hashed (package server/access/password).
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
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3) RETURNING id`,
			nu.Name, nu.Role, nu.PasswordHash).Scan(&id)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("name taken: %w", ErrConflict)
		}
		if err != nil {
			return err
		}
		if u, err = addGrants(ctx, tx, id, OneGrant(nu.Role, Scope{})); err != nil {
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
// ErrNotFound when no user has that name. A disabled user is returned too, with
// DisabledAt set: the caller checks the password first, so that a disabled account
// answers in the same time as any other. A user of a provider has no password: its
// hash is "".
func (s *Store) UserPasswordHash(ctx context.Context, name string) (User, string, error) {
	var hash string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, coalesce(password_hash, '') FROM users WHERE name = $1`, name), &hash)
	if err != nil {
		return User{}, "", fmt.Errorf("user %q: %w", name, notFound(err))
	}
	return u, hash, nil
}

// Users returns every user, by name, with the count of their live tokens.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+userColumns+`, (SELECT count(*) FROM api_tokens t
			WHERE t.owner_id = users.id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()))
		FROM users ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var n int
		u, err := scanUser(r, &n)
		u.Tokens = n
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UserByName returns a user; ErrNotFound when no user has that name.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, notFound(err))
	}
	return u, nil
}

// ErrLastAdmin means a change would leave no enabled admin user, and with it no way to
// manage users from the web UI. It wraps ErrConflict.
var ErrLastAdmin = fmt.Errorf("the last enabled admin cannot be demoted, disabled or deleted: %w", ErrConflict)

// changeUser runs fn on the locked row of user name inside a transaction, after checking
// that the change keeps an enabled admin: removesAdmin says whether the change takes the
// user out of the enabled admins. ErrNotFound when there is no such user.
func (s *Store) changeUser(ctx context.Context, name string, removesAdmin func(pgx.Tx, User) (bool, error), fn func(tx pgx.Tx, u User) (User, error)) (User, error) {
	var out User
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// Lock the enabled admins (and the user) in one order, so that two changes at
		// once cannot each remove one of the last two admins.
		rows, err := tx.Query(ctx, `
			SELECT `+userColumns+` FROM users
			WHERE name = $1 OR (role = 'admin' AND disabled_at IS NULL)
			ORDER BY id FOR UPDATE`, name)
		if err != nil {
			return err
		}
		locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
		if err != nil {
			return err
		}
		var u *User
		admins := 0
		for i := range locked {
			if locked[i].Name == name {
				u = &locked[i]
			}
			if locked[i].Role == RoleAdmin && locked[i].DisabledAt == nil {
				admins++
			}
		}
		if u == nil {
			return ErrNotFound
		}
		removes, err := removesAdmin(tx, *u)
		if err != nil {
			return err
		}
		if u.Role == RoleAdmin && u.DisabledAt == nil && removes && admins <= 1 {
			return ErrLastAdmin
		}
		out, err = fn(tx, *u)
		return err
	})
	return out, err
}

// SetUserRole gives a user one grant, of role on the clusters it reads now (a shorthand
// of SetUserGrants); ErrNotFound when there is no such user, ErrLastAdmin when it would
// demote the last enabled admin. Setting the grant a user has changes nothing and
// records nothing.
func (s *Store) SetUserRole(ctx context.Context, name, role string, a Audit) (User, error) {
	if err := validRole(role); err != nil {
		return User{}, fmt.Errorf("set role of user %q: %w", name, err)
	}
	u, err := s.setUserGrants(ctx, name, func(_ pgx.Tx, u User) (Grants, error) { return OneGrant(role, u.Grants.ReadScope()), nil },
		func(tx pgx.Tx, old, u User) error {
			return recordAudit(ctx, tx, a, ActionUserRole, u.Name, map[string]any{"id": u.ID, "from": old.Role, "to": role})
		})
	if err != nil {
		return User{}, fmt.Errorf("set role of user %q: %w", name, err)
	}
	return u, nil
}

// SetUserDisabled disables a user at at (ending its sessions) or enables it again;
// ErrNotFound when there is no such user, ErrLastAdmin when it would disable the last
// enabled admin. A user already in the state asked for is left as is, unrecorded.
func (s *Store) SetUserDisabled(ctx context.Context, name string, disabled bool, at time.Time, a Audit) (User, error) {
	u, err := s.changeUser(ctx, name, func(pgx.Tx, User) (bool, error) { return disabled, nil }, func(tx pgx.Tx, u User) (User, error) {
		if (u.DisabledAt != nil) == disabled {
			return u, nil
		}
		var when *time.Time
		action := ActionUserEnable
		if disabled {
			when, action = &at, ActionUserDisable
		}
		u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET disabled_at = $2 WHERE id = $1 RETURNING `+userColumns, u.ID, when))
		if err != nil {
			return User{}, err
		}
		n, err := deleteSessionsOf(ctx, tx, u.ID)
		if err != nil {
			return User{}, err
		}
		return u, recordAudit(ctx, tx, a, action, u.Name, map[string]any{"id": u.ID, "sessionsEnded": n})
	})
	if err != nil {
		return User{}, fmt.Errorf("set user %q disabled=%t: %w", name, disabled, err)
	}
	return u, nil
}

// DeleteUser deletes a user, its sessions, and revokes its API tokens, each revocation
// audited; ErrNotFound when there is no such user, ErrLastAdmin when it is the last
// enabled admin. Its name stays in the audit trail and on its tokens.
func (s *Store) DeleteUser(ctx context.Context, name string, a Audit) (User, error) {
	u, err := s.changeUser(ctx, name, func(pgx.Tx, User) (bool, error) { return true, nil }, func(tx pgx.Tx, u User) (User, error) {
		n, err := deleteSessionsOf(ctx, tx, u.ID)
		if err != nil {
			return User{}, err
		}
		revoked, err := revokeTokensOf(ctx, tx, u.ID, a, "owner deleted")
		if err != nil {
			return User{}, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
			return User{}, err
		}
		return u, recordAudit(ctx, tx, a, ActionUserDelete, u.Name,
			map[string]any{"id": u.ID, "role": u.Role, "sessionsEnded": n, "tokensRevoked": revoked})
	})
	if err != nil {
		return User{}, fmt.Errorf("delete user %q: %w", name, err)
	}
	return u, nil
}

// addGrants gives the new user id grants gs, inside tx, and returns it.
func addGrants(ctx context.Context, tx pgx.Tx, id int64, gs Grants) (User, error) {
	if err := writeGrants(ctx, tx, "users", "user_grants", "user_id", id, gs); err != nil {
		return User{}, err
	}
	return scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}
