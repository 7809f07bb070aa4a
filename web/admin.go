package web

import (
	"net/url"
	"strings"
	"time"
)

// Admin tabs.
const (
	AdminTokens = "tokens"
	AdminUsers  = "users"
	AdminAudit  = "audit"
)

// TokenRow is an API token as the admin pages list it: never its secret.
type TokenRow struct {
	ID                               int64
	Name, Role, CreatedBy            string
	CreatedAt                        time.Time
	LastUsedAt, ExpiresAt, RevokedAt *time.Time
}

// State is revoked, expired or active at now.
func (t TokenRow) State(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !t.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

// TokenForm is the form that creates a token, as typed, with its refusals.
type TokenForm struct {
	Name, Role, Expires                string
	NameError, RoleError, ExpiresError string
}

// TokenExpiries are the choices of a new token's lifetime: value and label.
var TokenExpiries = [][2]string{{"30d", "30 days"}, {"90d", "90 days"}, {"365d", "1 year"}, {"never", "never"}}

// CreatedToken is a token just made: its secret is on this page only.
type CreatedToken struct {
	Name, Role, Secret string
}

// TokensView is the API tokens page.
type TokensView struct {
	Tokens  []TokenRow
	Form    TokenForm
	Created *CreatedToken
	Now     time.Time
}

// UserRow is a user of the web UI.
type UserRow struct {
	Name, Role string
	CreatedAt  time.Time
	DisabledAt *time.Time
	Self       bool // the viewer
	// Tokens counts the live API tokens acting for the user.
	Tokens int
	// Provider is the host of the OpenID Connect provider the user signs in through;
	// empty for a local user (a password).
	Provider string
	// LastSignIn is when the user last signed in; nil for never.
	LastSignIn *time.Time
	// Grants are the roles the user holds, one per role at most (the admin one
	// first), each on every cluster or on some cluster groups.
	Grants []GrantRow
}

// GrantRow is a role on every cluster (All) or on the cluster groups Groups, by name
// and sorted (none left: its groups were deleted, it covers no cluster).
type GrantRow struct {
	Role   string
	All    bool
	Groups []string
}

// On is what g covers, as the users page says it.
func (g GrantRow) On() string {
	switch {
	case g.All:
		return "all clusters"
	case len(g.Groups) == 0:
		return "no cluster"
	}
	return strings.Join(g.Groups, ", ")
}

// GrantsText is a row's grants as the users page says them: "admin on team-a; viewer
// on all clusters".
func (r UserRow) GrantsText() string {
	var parts []string
	for _, g := range r.Grants {
		parts = append(parts, g.Role+" on "+g.On())
	}
	if len(parts) == 0 {
		return "no role"
	}
	return strings.Join(parts, "; ")
}

// GrantInput is the grant of role as its form field holds it: "*" for every cluster,
// the groups' names, or "" for none of that role.
func (r UserRow) GrantInput(role string) string {
	for _, g := range r.Grants {
		if g.Role == role {
			if g.All {
				return "*"
			}
			return strings.Join(g.Groups, " ")
		}
	}
	return ""
}

// UserForm is the form that adds a user, as typed (never the password), with refusals.
type UserForm struct {
	Name, Role                          string
	NameError, RoleError, PasswordError string
}

// UsersView is the users page.
type UsersView struct {
	Users []UserRow
	Form  UserForm
	// Error is the refusal of an action on a listed user (the last admin, say), and
	// ErrorUser the user it is about.
	Error, ErrorUser string
	Now              time.Time
}

// ConfirmView asks before an action that cannot be undone.
type ConfirmView struct {
	Title    string
	Question string   // names what is at stake
	Details  []string // what the action removes or keeps
	Action   string   // the form's URL
	Button   string
	Back     string // where "cancel" goes
	// Confirm, when not empty, must be typed to go on (a cluster's name).
	Confirm      string
	ConfirmError string
	// Purge offers the purge checkbox (clusters).
	Purge bool
}

// AuditRow is one audit event.
type AuditRow struct {
	ID                    int64
	At                    time.Time
	Actor, Action, Target string
	// Detail is the event's detail as "key: value" lines, keys sorted.
	Detail []string
	// From is the client's address without its port (an ephemeral port says nothing to
	// a reader); RemoteAddr is as recorded, for the cell's title.
	From, RemoteAddr string
}

// AuditFilterForm is the audit trail's filter, as typed.
type AuditFilterForm struct {
	Actor, Action, Target, Since, Until string
	SinceError, UntilError              string
}

// Query is the filter as a URL query, for links that keep it.
func (f AuditFilterForm) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// AuditActions are the actions and families the filter offers.
var AuditActions = []string{
	"cluster.", "cluster.create", "cluster.update", "cluster.delete", "scan.request",
	"token.", "token.create", "token.revoke",
	"channel.", "channel.create", "channel.update", "channel.delete", "channel.test",
	"route.", "route.create", "route.update", "route.delete",
	"user.", "user.add", "user.role", "user.disable", "user.enable", "user.delete", "user.signin", "user.signout",
}

// AuditView is the audit trail page.
type AuditView struct {
	Events []AuditRow
	Filter AuditFilterForm
	// Older is the link to the next, older page; "" on the last.
	Older string
	Now   time.Time
}

// AdminURL is the URL of an admin tab.
func AdminURL(tab string) string { return "/admin/" + tab }

// UserActionURL is the URL an action on a user posts to.
func UserActionURL(name, action string) string {
	return "/admin/users/" + url.PathEscape(name) + "/" + action
}
