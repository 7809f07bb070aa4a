package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
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
	// Grants are what every mapping of the user's groups grants (they combine: grants.go),
	// on every cluster or on the cluster groups named (those that exist: a mapping may
	// name a group not made yet); none is refused. Set again at every sign-in.
	Grants []NamedGrant
	// Groups are the user's groups that map to a role, for the audit trail.
	Groups []string
	// EndsAt is when the session ends, whatever its use (the provider session maximum).
	EndsAt time.Time
}

// SignInWithProvider signs in the provider's user p at now: it adds the user when first
// seen, sets its grants to p.Grants (recording a change as user.grants, and one of its
// highest role as user.role, with the provider's subject), and starts a session that
// ends at p.EndsAt at the latest. It returns the session's id, the only time it is
// seen. A sign-in refused for ErrNoRole or ErrUserDisabled is recorded as
// user.signin_refused and changes nothing else; an existing user keeps its grants then.
func (s *Store) SignInWithProvider(ctx context.Context, p ProviderSignIn, now time.Time, a Audit) (string, Session, error) {
	if p.Provider == "" || p.Subject == "" {
		return "", Session{}, errors.New("sign in with provider: provider or subject is empty")
	}
	for _, g := range p.Grants {
		if err := validRole(g.Role); err != nil {
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
		case len(p.Grants) == 0:
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
		grants, err := signInGrants(ctx, tx, p.Grants)
		if err != nil {
			return err
		}
		if !found {
			if u, err = addProviderUser(ctx, tx, p, grants); err != nil {
				return err
			}
			if err := recordAudit(ctx, tx, a, ActionUserAdd, u.Name, map[string]any{"id": u.ID, "role": u.Role,
				"provider": p.Provider, "subject": p.Subject}); err != nil {
				return err
			}
		} else if !u.Grants.Equal(grants) {
			if u, err = changeProviderGrants(ctx, tx, u, grants, p, a); err != nil {
				return err
			}
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
func addProviderUser(ctx context.Context, tx pgx.Tx, p ProviderSignIn, gs Grants) (User, error) {
	sum := sha256.Sum256([]byte(p.Provider + "\x00" + p.Subject))
	suffix := "~" + hex.EncodeToString(sum[:4])
	name := p.Name
	if name == "" {
		name = p.Subject
	}
	for _, candidate := range []string{name, name + suffix} {
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO users (name, role, provider, subject) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO NOTHING RETURNING id`, candidate, gs.Role(), p.Provider, p.Subject).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return User{}, err
		}
		return addGrants(ctx, tx, id, gs)
	}
	return User{}, fmt.Errorf("add user %q: name taken: %w", name+suffix, ErrConflict)
}

// signInGrants are the grants of a sign-in, each on the cluster groups it names that
// exist (locked until tx ends): a grant naming only groups not made yet covers no
// cluster.
func signInGrants(ctx context.Context, tx pgx.Tx, named []NamedGrant) (Grants, error) {
	var gs Grants
	for _, n := range named {
		g := Grant{Role: n.Role}
		if len(n.Groups) > 0 {
			rows, err := tx.Query(ctx, `SELECT id FROM cluster_groups WHERE name = ANY($1) ORDER BY id FOR SHARE`, n.Groups)
			if err != nil {
				return nil, fmt.Errorf("grants: %w", err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return nil, fmt.Errorf("grants: %w", err)
			}
			g.Scope = Scope{Limited: true, GroupIDs: append([]int64{}, ids...)}
		}
		gs = append(gs, g)
	}
	return gs.normal(), nil
}

// changeProviderGrants gives provider user u grants gs, inside tx, recording the change
// as user.grants, and one of its highest role as user.role, with the provider's subject.
func changeProviderGrants(ctx context.Context, tx pgx.Tx, u User, gs Grants, p ProviderSignIn, a Audit) (User, error) {
	from, err := grantLabels(ctx, tx, u.Grants)
	if err != nil {
		return User{}, err
	}
	next, err := addGrants(ctx, tx, u.ID, gs)
	if err != nil {
		return User{}, err
	}
	to, err := grantLabels(ctx, tx, gs)
	if err != nil {
		return User{}, err
	}
	who := map[string]any{"id": u.ID, "provider": p.Provider, "subject": p.Subject, "groups": p.Groups}
	if next.Role != u.Role {
		if err := recordAudit(ctx, tx, a, ActionUserRole, u.Name, withDetail(who, "from", u.Role, "to", next.Role)); err != nil {
			return User{}, err
		}
	}
	return next, recordAudit(ctx, tx, a, ActionUserGrants, u.Name, withDetail(who, "from", from, "to", to))
}

// withDetail is a copy of detail with the key and value pairs kv added.
func withDetail(detail map[string]any, kv ...any) map[string]any {
	out := maps.Clone(detail)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
