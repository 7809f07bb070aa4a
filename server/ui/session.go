package ui

import (
	"net/http"
	"net/url"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
)

// requireSession lets a page through only for a signed-in user (a session cookie) or an
// API token (a bearer header, which browsers never send by themselves, so it needs no
// cross-site protection), and puts the principal in the request's context
// (access.PrincipalOf), so pages know the role. Anyone else is sent to the sign-in page,
// and comes back to where they were going after it.
func (u *UI) requireSession(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		sess, err := u.access.Session(r)
		if err != nil {
			return err
		}
		var p access.Principal
		ctx := r.Context()
		switch {
		case sess != nil:
			p = access.UserPrincipal(sess.User)
			p.Client = u.access.Client(r)
			ctx = access.WithSession(ctx, sess)
		case r.Header.Get("Authorization") != "":
			if p, err = u.access.Principal(r); err != nil {
				return err
			}
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil
		default:
			return request.Errorf(http.StatusUnauthorized, "your session has ended: sign in again, then repeat what you did")
		}
		next.ServeHTTP(w, r.WithContext(access.WithPrincipal(ctx, p)))
		return nil
	})
}

// maybeSession puts the principal of a session or a token in the request's context
// when there is one, and lets every request through: for pages anyone may see (not
// found), whose layout then shows the navigation only to those who can use it.
func (u *UI) maybeSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var p access.Principal
		if sess, err := u.access.Session(r); err == nil && sess != nil {
			p = access.UserPrincipal(sess.User)
			ctx = access.WithSession(ctx, sess)
		} else if r.Header.Get("Authorization") != "" {
			if tp, err := u.access.Principal(r); err == nil {
				p = tp // a refused token is a visitor without one
			}
		}
		next.ServeHTTP(w, r.WithContext(access.WithPrincipal(ctx, p)))
	})
}

// requireGlobalAdminUI lets only admins of every cluster through: users, tokens, the
// rules and the decisions on acknowledgements are global settings; a scoped admin gets
// a 403 page (what it guards names no cluster).
func (u *UI) requireGlobalAdminUI(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		if !access.PrincipalOf(r.Context()).IsGlobalAdmin() {
			return request.Errorf(http.StatusForbidden, "this needs the admin role on every cluster")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// requireAdminUI lets only admins through, of every cluster or of some groups; a viewer
// gets a 403 page even for an action the page never offered them.
func (u *UI) requireAdminUI(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		if !access.PrincipalOf(r.Context()).IsAdmin() {
			return request.Errorf(http.StatusForbidden, "this needs the admin role")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}
