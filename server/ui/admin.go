package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// userName is the rule for names of users added in the UI: what fits in an audit actor,
// a URL path and a log line without quoting.
var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// minUIPassword is the shortest password an admin may set in the UI.
const minUIPassword = 12

// auditPage is how many audit events a page shows.
const auditPage = 100

// adminRoutes are the admin pages: every one needs the admin role.
func (u *UI) adminRoutes(r chi.Router) {
	r.Route("/admin", func(r chi.Router) {
		// Global settings: an admin of some cluster groups manages their clusters on
		// the clusters' pages, and their routes and audit trail through the API.
		r.Use(u.requireGlobalAdminUI)
		r.Get("/", u.handle(u.adminIndex))
		r.Get("/tokens", u.handle(u.tokensPage))
		r.Post("/tokens", u.handle(u.createTokenForm))
		r.Post("/tokens/{id}/revoke", u.handle(u.revokeTokenForm))
		r.Get("/users", u.handle(u.usersPage))
		r.Post("/users", u.handle(u.addUserForm))
		r.Post("/users/{name}/role", u.handle(u.setRoleForm))
		r.Post("/users/{name}/scope", u.handle(u.setScopeForm))
		r.Post("/users/{name}/grants", u.handle(u.setGrantsForm))
		r.Post("/users/{name}/disable", u.handle(u.disableUserForm(true)))
		r.Post("/users/{name}/enable", u.handle(u.disableUserForm(false)))
		r.Get("/users/{name}/delete", u.handle(u.deleteUserPage))
		r.Post("/users/{name}/delete", u.handle(u.deleteUserForm))
		r.Get("/audit", u.handle(u.auditPage))
		u.notificationRoutes(r)
	})
}

// readForm parses a posted form of at most maxFormBytes.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return request.Errorf(http.StatusRequestEntityTooLarge, "form larger than %d bytes", tooBig.Limit)
		}
		return request.Errorf(http.StatusBadRequest, "unreadable form")
	}
	return nil
}

// seeOther ends a successful form post: 303 to the page that shows the result.
func seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (u *UI) tokensView(r *http.Request, form web.TokenForm, created *web.CreatedToken) (web.TokensView, error) {
	toks, err := u.st.Tokens(r.Context(), 0, 1000)
	if err != nil {
		return web.TokensView{}, request.About(err, "list tokens")
	}
	v := web.TokensView{Form: form, Created: created, Now: u.now()}
	for _, t := range toks {
		v.Tokens = append(v.Tokens, web.TokenRow{
			ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
			LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt,
		})
	}
	return v, nil
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.tokensView(r, web.TokenForm{}, nil)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "API tokens", web.NavAdmin), web.TokensPage(v))
}

// tokenExpiry is the expiry of a token made at now for the form's choice.
func tokenExpiry(choice string, now time.Time) (*time.Time, bool) {
	days := map[string]int{"30d": 30, "90d": 90, "365d": 365}
	if choice == "never" {
		return nil, true
	}
	d, ok := days[choice]
	if !ok {
		return nil, false
	}
	t := now.Add(time.Duration(d) * 24 * time.Hour)
	return &t, true
}

// createTokenForm makes a token. Its secret is shown once, in the answer to this post:
// the one form that does not redirect, since a redirect would have to carry the secret
// through a URL, a cookie or the database. The answer is never cached.
func (u *UI) createTokenForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	f := web.TokenForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role"), Expires: r.PostForm.Get("expires")}
	if f.Name == "" || len(f.Name) > 100 {
		f.NameError = "Give the token a name of 1 to 100 characters."
	}
	if f.Role != store.RoleViewer && f.Role != store.RoleAdmin {
		f.RoleError = "Choose viewer or admin."
	}
	expires, ok := tokenExpiry(f.Expires, u.now())
	if !ok {
		f.ExpiresError = "Choose one of the offered lifetimes."
	}
	if f.NameError != "" || f.RoleError != "" || f.ExpiresError != "" {
		v, err := u.tokensView(r, f, nil)
		if err != nil {
			return err
		}
		return u.render(w, r, http.StatusUnprocessableEntity, u.meta(r, "API tokens", web.NavAdmin), web.TokensPage(v))
	}
	tok, secret, err := u.st.CreateToken(r.Context(), store.NewToken{Name: f.Name, Role: f.Role, ExpiresAt: expires,
		OwnerID: access.PrincipalOf(r.Context()).UserID}, access.Audit(r))
	if err != nil {
		return request.About(err, "token %q", f.Name)
	}
	u.log.Info("token created", "token", tok.Name, "role", tok.Role, "actor", access.PrincipalOf(r.Context()).Actor)
	v, err := u.tokensView(r, web.TokenForm{}, &web.CreatedToken{Name: tok.Name, Role: tok.Role, Secret: secret})
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Token created", web.NavAdmin), web.TokensPage(v))
}

func (u *UI) revokeTokenForm(w http.ResponseWriter, r *http.Request) error {
	id, err := request.PathID(chi.URLParam(r, "id"), "token")
	if err != nil {
		return err
	}
	if _, err := u.st.RevokeToken(r.Context(), id, u.now(), access.Audit(r)); err != nil {
		return request.About(err, "token %d", id)
	}
	return seeOther(w, r, web.AdminURL(web.AdminTokens))
}

func (u *UI) usersView(r *http.Request, form web.UserForm) (web.UsersView, error) {
	users, err := u.st.Users(r.Context())
	if err != nil {
		return web.UsersView{}, request.About(err, "list users")
	}
	groups, err := u.st.Groups(r.Context(), store.Scope{}) // the page is an admin's of every cluster
	if err != nil {
		return web.UsersView{}, request.About(err, "list cluster groups")
	}
	groupName := map[int64]string{}
	for _, g := range groups {
		groupName[g.ID] = g.Name
	}
	v := web.UsersView{Form: form, Now: u.now()}
	self := ""
	if s := access.SessionOf(r.Context()); s != nil {
		self = s.User.Name
	}
	for _, us := range users {
		row := web.UserRow{Name: us.Name, Role: us.Role, CreatedAt: us.CreatedAt, DisabledAt: us.DisabledAt, Self: us.Name == self,
			Tokens: us.Tokens, LastSignIn: us.LastSignInAt}
		for _, g := range us.Grants {
			gr := web.GrantRow{Role: g.Role, All: !g.Scope.Limited}
			for _, id := range g.Scope.GroupIDs {
				if n, ok := groupName[id]; ok {
					gr.Groups = append(gr.Groups, n)
				}
			}
			slices.Sort(gr.Groups)
			row.Grants = append(row.Grants, gr)
		}
		if us.Provider != "" {
			row.Provider = us.Provider
			if pu, err := url.Parse(us.Provider); err == nil && pu.Host != "" {
				row.Provider = pu.Host
			}
		}
		v.Users = append(v.Users, row)
	}
	return v, nil
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.usersView(r, web.UserForm{})
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Users", web.NavAdmin), web.UsersPage(v))
}

func (u *UI) refuseUsers(w http.ResponseWriter, r *http.Request, v web.UsersView) error {
	return u.render(w, r, http.StatusUnprocessableEntity, u.meta(r, "Users", web.NavAdmin), web.UsersPage(v))
}

func (u *UI) addUserForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	f := web.UserForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role")}
	pw := r.PostForm.Get("password")
	if !userName.MatchString(f.Name) {
		f.NameError = "A name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit."
	}
	if f.Role != store.RoleViewer && f.Role != store.RoleAdmin {
		f.RoleError = "Choose viewer or admin."
	}
	switch {
	case len(pw) < minUIPassword:
		f.PasswordError = fmt.Sprintf("Use at least %d characters.", minUIPassword)
	case len(pw) > password.MaxLen:
		f.PasswordError = fmt.Sprintf("Use at most %d bytes.", password.MaxLen)
	}
	var hash string
	if f.NameError == "" && f.RoleError == "" && f.PasswordError == "" {
		var err error
		if hash, err = u.access.Sessions.HashPassword(r.Context(), pw); err != nil {
			return request.About(err, "add user %q", f.Name)
		}
		_, err = u.st.AddUser(r.Context(), store.NewUser{Name: f.Name, Role: f.Role, PasswordHash: hash}, access.Audit(r))
		if err == nil {
			return seeOther(w, r, web.AdminURL(web.AdminUsers))
		}
		if !errors.Is(err, store.ErrConflict) {
			return request.About(err, "add user %q", f.Name)
		}
		f.NameError = "A user of this name exists."
	}
	v, err := u.usersView(r, f)
	if err != nil {
		return err
	}
	return u.refuseUsers(w, r, v)
}

// userActionDone ends an action on a listed user: back to the list, or the list again
// with the refusal when the store refused (the last admin).
func (u *UI) userActionDone(w http.ResponseWriter, r *http.Request, name string, err error) error {
	switch {
	case err == nil:
		return seeOther(w, r, web.AdminURL(web.AdminUsers))
	case errors.Is(err, store.ErrLastAdmin):
		v, verr := u.usersView(r, web.UserForm{})
		if verr != nil {
			return verr
		}
		v.Error, v.ErrorUser = "the last enabled admin cannot be demoted, disabled or deleted: make another admin first.", name
		return u.refuseUsers(w, r, v)
	}
	return request.About(err, "user %q", name)
}

func (u *UI) setRoleForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name, role := request.PathParam(r, "name"), r.PostForm.Get("role")
	if role != store.RoleViewer && role != store.RoleAdmin {
		return request.Errorf(http.StatusUnprocessableEntity, "role must be viewer or admin")
	}
	_, err := u.st.SetUserRole(r.Context(), name, role, access.Audit(r))
	return u.userActionDone(w, r, name, err)
}

// setScopeForm scopes a user's role to the cluster groups named (separated by spaces
// or commas), or to every cluster with none.
func (u *UI) setScopeForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name := request.PathParam(r, "name")
	if _, err := u.st.UserByName(r.Context(), name); err != nil {
		return request.About(err, "user %q", name)
	}
	groups := strings.FieldsFunc(r.PostForm.Get("groups"), func(c rune) bool { return c == ' ' || c == ',' })
	valid := true
	for _, g := range groups {
		valid = valid && store.ValidGroupName(g) == nil
	}
	err := errors.New("invalid group name")
	if valid {
		err = u.st.SetUserScope(r.Context(), name, groups, access.Audit(r))
	}
	if err != nil && (!valid || errors.Is(err, store.ErrNotFound)) {
		v, verr := u.usersView(r, web.UserForm{})
		if verr != nil {
			return verr
		}
		v.Error, v.ErrorUser = "name existing cluster groups, separated by spaces, or none for every cluster.", name
		return u.refuseUsers(w, r, v)
	}
	return u.userActionDone(w, r, name, err)
}

// setGrantsForm replaces a user's grants from the fields admin and viewer: "*" for
// every cluster, cluster groups (separated by spaces or commas) for theirs, empty for
// no grant of that role.
func (u *UI) setGrantsForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name := request.PathParam(r, "name")
	if _, err := u.st.UserByName(r.Context(), name); err != nil {
		return request.About(err, "user %q", name)
	}
	var named []store.NamedGrant
	valid := true
	for _, role := range []string{store.RoleAdmin, store.RoleViewer} {
		field := strings.TrimSpace(r.PostForm.Get(role))
		if field == "" {
			continue
		}
		g := store.NamedGrant{Role: role}
		if field != "*" {
			g.Groups = strings.FieldsFunc(field, func(c rune) bool { return c == ' ' || c == ',' })
			for _, n := range g.Groups {
				valid = valid && store.ValidGroupName(n) == nil
			}
		}
		named = append(named, g)
	}
	err := errors.New("invalid grants")
	if valid && len(named) > 0 {
		_, err = u.st.SetUserGrants(r.Context(), name, named, access.Audit(r))
	}
	if err != nil && (!valid || len(named) == 0 || errors.Is(err, store.ErrNotFound)) {
		v, verr := u.usersView(r, web.UserForm{})
		if verr != nil {
			return verr
		}
		v.Error, v.ErrorUser = "give a role * (every cluster) or existing cluster groups separated by spaces; at least one role.", name
		return u.refuseUsers(w, r, v)
	}
	return u.userActionDone(w, r, name, err)
}

func (u *UI) disableUserForm(disabled bool) uiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := readForm(w, r); err != nil {
			return err
		}
		name := request.PathParam(r, "name")
		_, err := u.st.SetUserDisabled(r.Context(), name, disabled, u.now(), access.Audit(r))
		return u.userActionDone(w, r, name, err)
	}
}

func (u *UI) deleteUserPage(w http.ResponseWriter, r *http.Request) error {
	name := request.PathParam(r, "name")
	us, err := u.st.UserByName(r.Context(), name)
	if err != nil {
		return request.About(err, "user %q", name)
	}
	v := web.ConfirmView{
		Title:    "Delete user " + us.Name,
		Question: fmt.Sprintf("Delete the %s %s?", us.Role, us.Name),
		Details: []string{
			"They can no longer sign in, and their open sessions end now.",
			"The API tokens acting for them are revoked with them.",
			"Their name stays in the audit trail and on their tokens.",
		},
		Action: web.UserActionURL(us.Name, "delete"), Button: "Delete " + us.Name, Back: web.AdminURL(web.AdminUsers),
	}
	return u.render(w, r, http.StatusOK, u.meta(r, v.Title, web.NavAdmin), web.ConfirmPage(v))
}

func (u *UI) deleteUserForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name := request.PathParam(r, "name")
	_, err := u.st.DeleteUser(r.Context(), name, access.Audit(r))
	return u.userActionDone(w, r, name, err)
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request) error {
	// As every page's: unknown, repeated, overlong and non-text parameters are refused
	// (the database refuses NUL), not ignored.
	q, err := request.Parse(r.URL.RawQuery, "actor", "action", "target", "since", "until", "before")
	if err != nil {
		return err
	}
	now := u.now()
	f := web.AuditFilterForm{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Since: q.Get("since"), Until: q.Get("until")}
	sf := store.AuditFilter{Actor: f.Actor, Action: f.Action, Target: f.Target, Limit: auditPage + 1, Scope: scopeOf(r.Context())}
	if sf.Since, err = request.AuditTime(f.Since, now); err != nil {
		f.SinceError = err.Error()
	}
	if sf.Until, err = request.AuditTime(f.Until, now); err != nil {
		f.UntilError = err.Error()
	}
	if b := q.Get("before"); b != "" {
		if sf.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || sf.BeforeID <= 0 {
			return request.Errorf(http.StatusBadRequest, "before must be an event id")
		}
	}
	v := web.AuditView{Filter: f, Now: now}
	status := http.StatusOK
	if f.SinceError != "" || f.UntilError != "" {
		status = http.StatusUnprocessableEntity
	} else {
		evs, err := u.st.FindAuditEvents(r.Context(), sf)
		if err != nil {
			return request.About(err, "audit trail")
		}
		if len(evs) > auditPage {
			evs = evs[:auditPage]
			next := f.Query()
			next.Set("before", strconv.FormatInt(evs[len(evs)-1].ID, 10))
			v.Older = "/admin/audit?" + next.Encode()
		}
		for _, e := range evs {
			from := e.RemoteAddr
			if host, _, err := net.SplitHostPort(from); err == nil {
				from = host
			}
			v.Events = append(v.Events, web.AuditRow{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target,
				Detail: detailLines(e.Detail), From: from, RemoteAddr: e.RemoteAddr})
		}
	}
	return u.render(w, r, status, u.meta(r, "Audit trail", web.NavAdmin), web.AuditPage(v))
}

// detailLines writes an audit detail as "key: value" lines, keys sorted: a string as
// it is, anything else as its JSON.
func detailLines(detail map[string]any) []string {
	out := make([]string, 0, len(detail))
	for _, k := range slices.Sorted(maps.Keys(detail)) {
		v, ok := detail[k].(string)
		if !ok {
			b, _ := json.Marshal(detail[k]) // a value decoded from JSON encodes again
			v = string(b)
		}
		out = append(out, k+": "+v)
	}
	return out
}
