package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit actions of sign-ins through a provider (besides user.signin and user.role).
const (
	// ActionUserSignInRefused is a sign-in the provider vouched for that tagdrift
	// refused: the user is in no mapped group, or disabled.
	ActionUserSignInRefused = "user.signin_refused"
)

// ErrNoRole means the provider's user is in none of the groups mapped to a role: signing
// in through the provider is not the same as having access.
var ErrNoRole = errors.New("in no group mapped to a role")

// ErrUserDisabled means the user is disabled: it may not sign in.
var ErrUserDisabled = errors.New("user is disabled")

// ProviderSignIn is a sign-in an OpenID Connect provider vouched for (its ID token
// verified).
type ProviderSignIn struct {
	// Provider is the provider's issuer URL, Subject its id of the user: together they
	// are the user, whatever its name.
	Provider, Subject string
	// Name is the name the user gets when first seen (preferred_username, email or the
	// subject); when another user has it, the name gets a suffix made from the subject.
	// A user keeps its name at later sign-ins.
	Name string
	// Role is the role the user's groups map to; "" for none, which is refused.
	Role string
	// Groups are the user's groups that map to a role, for the audit trail.
	Groups []string
	// Scoped limits Role to the clusters of the cluster groups ClusterGroups (those
	// that exist: a mapping may name a group not made yet); not scoped, every
	// cluster. Set again at every sign-in.
	Scoped        bool
	ClusterGroups []string
	// EndsAt is when the session ends, whatever its use (the provider session maximum).
	EndsAt time.Time
}

// SignInWithProvider signs in the provider's user p at now: it adds the user when first
// seen, sets its role to p.Role (recording a change with the provider's subject), and
// starts a session that ends at p.EndsAt at the latest. It returns the session's id, the
// only time it is seen. A sign-in refused for ErrNoRole or ErrUserDisabled is recorded
// as user.signin_refused and changes nothing else; an existing user keeps its role then.
func (s *Store) SignInWithProvider(ctx context.Context, p ProviderSignIn, now time.Time, a Audit) (string, Session, error) {
	if p.Provider == "" || p.Subject == "" {
		return "", Session{}, errors.New("sign in with provider: provider or subject is empty")
	}
	if p.Role != "" {
		if err := validRole(p.Role); err != nil {
			return "", Session{}, fmt.Errorf("sign in with provider: %w", err)
		}
	}
	id, err := newSessionID()
	if err != nil {
		return "", Session{}, fmt.Errorf("sign in with provider: %w", err)
	}
	detail := map[string]any{"provider": p.Provider, "subject": p.Subject, "groups": p.Groups}
	var (
		sess    Session
		refused error
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		u, found, err := providerUser(ctx, tx, p.Provider, p.Subject)
		if err != nil {
			return err
		}
		switch {
		case p.Role == "":
			refused = ErrNoRole
		case found && u.DisabledAt != nil:
			refused = ErrUserDisabled
		}
		if refused != nil {
			target := p.Name
			if found {
				target = u.Name
				detail["id"] = u.ID
			}
			detail["reason"] = refused.Error()
			return recordAudit(ctx, tx, a, ActionUserSignInRefused, target, detail)
		}
		if !found {
			if u, err = addProviderUser(ctx, tx, p); err != nil {
				return err
			}
			if err := recordAudit(ctx, tx, a, ActionUserAdd, u.Name, map[string]any{"id": u.ID, "role": u.Role,
				"provider": p.Provider, "subject": p.Subject}); err != nil {
				return err
			}
		} else if u.Role != p.Role {
			old := u.Role
			if u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $2 WHERE id = $1 RETURNING `+userColumns, u.ID, p.Role)); err != nil {
				return err
			}
			if err := recordAudit(ctx, tx, a, ActionUserRole, u.Name, map[string]any{"id": u.ID, "from": old, "to": p.Role,
				"provider": p.Provider, "subject": p.Subject, "groups": p.Groups}); err != nil {
				return err
			}
		}
		if err := signInScope(ctx, tx, &u, p, a); err != nil {
			return err
		}
		ends := p.EndsAt
		if err := insertSession(ctx, tx, id, &u, now, &ends, a); err != nil {
			return err
		}
		sess = Session{User: u, CreatedAt: now, LastSeenAt: now, EndsAt: &ends}
		detail["id"] = u.ID
		detail["role"] = u.Role
		return recordAudit(ctx, tx, a, ActionUserSignIn, u.Name, detail)
	})
	if err == nil && refused != nil {
		err = refused
	}
	if err != nil {
		return "", Session{}, fmt.Errorf("sign in with provider %s as %q: %w", p.Provider, p.Subject, err)
	}
	return id, sess, nil
}

// providerUser is the locked row of the provider's user, and whether there is one.
func providerUser(ctx context.Context, tx pgx.Tx, provider, subject string) (User, bool, error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE provider = $1 AND subject = $2 FOR UPDATE`,
		provider, subject))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, false, nil
	}
	return u, err == nil, err
}

// addProviderUser adds the provider's user under p.Name, or, when that name is taken
// (by a local user or another provider's), under the name with a suffix from its
// subject: a provider's user never becomes a local one by its name.
func addProviderUser(ctx context.Context, tx pgx.Tx, p ProviderSignIn) (User, error) {
	sum := sha256.Sum256([]byte(p.Provider + "\x00" + p.Subject))
	suffix := "~" + hex.EncodeToString(sum[:4])
	name := p.Name
	if name == "" {
		name = p.Subject
	}
	for _, candidate := range []string{name, name + suffix} {
		u, err := scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (name, role, provider, subject) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO NOTHING RETURNING `+userColumns, candidate, p.Role, p.Provider, p.Subject))
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		return u, err
	}
	return User{}, fmt.Errorf("add user %q: name taken: %w", name+suffix, ErrConflict)
}

// signInScope sets the scope of provider user u to p's, inside tx, recording a change
// as user.scope with the provider's subject.
func signInScope(ctx context.Context, tx pgx.Tx, u *User, p ProviderSignIn, a Audit) error {
	want := Scope{}
	if p.Scoped {
		rows, err := tx.Query(ctx, `SELECT id FROM cluster_groups WHERE name = ANY($1) ORDER BY id FOR SHARE`, nonNilStrings(p.ClusterGroups))
		if err != nil {
			return fmt.Errorf("scope: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("scope: %w", err)
		}
		want = Scope{Limited: true, GroupIDs: append([]int64{}, ids...)}
	}
	if want.Limited == u.Scope.Limited && want.Key() == u.Scope.Key() {
		return nil
	}
	old, err := scopeNames(ctx, tx, u.Scope.Limited, "user_scope_groups", "user_id", u.ID)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM user_scope_groups WHERE user_id = $1`, u.ID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO user_scope_groups (user_id, group_id) SELECT $1, unnest($2::bigint[])`, u.ID, want.ids()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET scoped = $2 WHERE id = $1`, u.ID, want.Limited); err != nil {
		return err
	}
	u.Scope = want
	to, err := scopeNames(ctx, tx, want.Limited, "user_scope_groups", "user_id", u.ID)
	if err != nil {
		return err
	}
	return recordAudit(ctx, tx, a, ActionUserScope, u.Name, map[string]any{"id": u.ID, "from": old, "to": to,
		"provider": p.Provider, "subject": p.Subject, "groups": p.Groups})
}
