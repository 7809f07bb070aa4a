package access

import (
	"cmp"
	"context"
	"net/http"

	"github.com/tagdrift/tagdrift/store"
)

// Principal is who makes a request: an API token's owner or a signed-in user.
type Principal struct {
	// Actor names it in the audit trail: "token:<id>:<name>" (names are not unique),
	// "admin-token" or "user:<name>".
	Actor string
	// LimiterKey picks its rate limiter: one per token id, one for the admin token.
	LimiterKey string
	// UserID is the user it acts for: the signed-in user, or the token's owner; 0 for
	// the operator's tokens, which have none. A token made with it gets this owner.
	UserID int64
	// Client is the address the request came from (Gate.Client): the real client
	// behind trusted proxies.
	Client string
	// Grants are p's roles, read at authentication: a user's; a token's own cut to its
	// owner's current ones; admin on every cluster for the operator's admin token.
	Grants store.Grants
}

// Role is p's highest role ("" for none).
func (p Principal) Role() string { return p.Grants.Role() }

// ReadScope is the clusters p reads: every read filters by it in the store.
func (p Principal) ReadScope() store.Scope { return p.Grants.ReadScope() }

// AdminScope is the clusters p administers: every change of a cluster or a route is
// checked against it.
func (p Principal) AdminScope() store.Scope { return p.Grants.AdminScope() }

// IsAdmin reports whether p holds the admin role (on some clusters at least).
func (p Principal) IsAdmin() bool { return p.Role() == store.RoleAdmin }

// IsGlobalAdmin reports whether p is an admin of every cluster: only such an admin
// manages users, tokens, cluster groups, channels and the other global settings.
func (p Principal) IsGlobalAdmin() bool { return p.IsAdmin() && !p.AdminScope().Limited }

type principalKey struct{}

// WithPrincipal is ctx carrying p, for PrincipalOf.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf is the principal the authentication put in ctx; the zero one (no role)
// outside it.
func PrincipalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Audit is who makes a change and from where, for the store's audit trail. The address
// is the principal's client (Gate.Client: X-Forwarded-For only from trusted proxies),
// else the connection's.
func Audit(r *http.Request) store.Audit {
	p := PrincipalOf(r.Context())
	return store.Audit{Actor: p.Actor, RemoteAddr: cmp.Or(p.Client, r.RemoteAddr)}
}

// UserPrincipal is who a signed-in user is, for the audit trail and the role checks.
func UserPrincipal(u store.User) Principal {
	return Principal{Actor: "user:" + u.Name, LimiterKey: "user:" + u.Name, UserID: u.ID, Grants: u.Grants}
}
