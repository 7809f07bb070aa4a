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
	Role  string
	// LimiterKey picks its rate limiter: one per token id, one for the admin token.
	LimiterKey string
	// UserID is the user it acts for: the signed-in user, or the token's owner; 0 for
	// the operator's tokens, which have none. A token made with it gets this owner.
	UserID int64
	// Client is the address the request came from (Gate.Client): the real client
	// behind trusted proxies.
	Client string
	// Scope is the clusters p's role covers, read at authentication: a user's scope; a
	// token's own scope bounded by its owner's current one; every cluster for the
	// operator's admin token. Every read filters by it in the store.
	Scope store.Scope
}

// IsAdmin reports whether p has the admin role (on the clusters of its scope).
func (p Principal) IsAdmin() bool { return p.Role == store.RoleAdmin }

// IsGlobalAdmin reports whether p is an admin of every cluster: only such an admin
// manages users, tokens, cluster groups, channels and the other global settings.
func (p Principal) IsGlobalAdmin() bool { return p.IsAdmin() && !p.Scope.Limited }

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
	return Principal{Actor: "user:" + u.Name, Role: u.Role, LimiterKey: "user:" + u.Name, UserID: u.ID, Scope: u.Scope}
}
