package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// maxFormBytes bounds the body of a form post; a kubeconfig upload has its own bound.
const maxFormBytes = 64 << 10

// maxNameLen bounds a typed user name: longer ones are not looked up.
const maxNameLen = 256

// wrongCredentials is the one answer to a failed sign-in, whatever failed: an unknown
// name, a wrong password, a disabled account.
const wrongCredentials = "Wrong user name or password."

func (u *UI) signInView(r *http.Request, name, next string) web.SignInView {
	v := web.SignInView{
		Name: name, Next: access.SafeNext(next),
		// Decided by the configuration and the connection, never by a header.
		Insecure: u.access.Sessions.Cookies.WarnPlainHTTP(r),
		NoLocal:  u.noLocal,
	}
	if u.sso != nil {
		v.Provider = u.sso.Name()
		v.ProviderURL = ssoStartPath
		if v.Next != "/" {
			v.ProviderURL += "?next=" + url.QueryEscape(v.Next)
		}
	}
	return v
}

// signInPage shows the sign-in form, or sends a signed-in user on.
func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) error {
	next := r.URL.Query().Get("next")
	sess, err := u.access.Session(r)
	if err != nil {
		return err
	}
	if sess != nil {
		http.Redirect(w, r, access.SafeNext(next), http.StatusSeeOther)
		return nil
	}
	v := u.signInView(r, "", next)
	v.SignedOut = r.URL.Query().Has(signedOutFlag)
	return u.renderSignIn(w, r, http.StatusOK, v)
}

// signedOutFlag is the query flag of the page the sign-out goes to, which then says
// "You are signed out.": present or not, its value is never shown.
const signedOutFlag = "signed-out"

func (u *UI) renderSignIn(w http.ResponseWriter, r *http.Request, status int, v web.SignInView) error {
	return u.render(w, r, status, u.meta(r, "Sign in", ""), web.SignInPage(v))
}

// signIn checks a name and password and starts a session. Failures are limited per
// address and per typed name before any database work; an unknown name costs a password
// check against a dummy hash, so that it answers as a wrong password does, in the same
// time.
func (u *UI) signIn(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return request.Errorf(http.StatusBadRequest, "unreadable form")
	}
	name, pw := r.PostForm.Get("name"), r.PostForm.Get("password")
	v := u.signInView(r, name, r.PostForm.Get("next"))
	if u.noLocal {
		u.log.Info("sign-in refused", "user", logName(name), "reason", "local sign-in is off", "client", u.access.Client(r))
		v.Error = "Local sign-in is turned off: sign in with " + u.sso.Name() + "."
		return u.renderSignIn(w, r, http.StatusForbidden, v)
	}
	if name == "" {
		v.NameError = "Enter your user name."
	}
	if pw == "" {
		v.PasswordError = "Enter your password."
	}
	if v.NameError != "" || v.PasswordError != "" {
		return u.renderSignIn(w, r, http.StatusUnprocessableEntity, v)
	}

	now := u.now()
	client := u.access.Client(r)
	sess := u.access.Sessions
	// Per client address, per name and client, then per name alone unless this browser
	// signed in to that name before; every taken attempt is given back on success.
	var tries []access.Attempt
	limit := ""
	var wait time.Duration
	for _, l := range []struct {
		name string
		lim  *access.Limiter
		key  string
		skip bool
	}{
		{"address", sess.Addresses, access.AddressKey(client), false},
		{"account and address", sess.Accounts, access.AccountKey(name, client), false},
		{"account", sess.Names, name, sess.KnownDevice(r, name)},
	} {
		if l.skip {
			continue
		}
		var a access.Attempt
		if a, wait = l.lim.Take(l.key, now); wait > 0 {
			if a.LockoutStarted {
				u.log.Warn("failed sign-ins locked out", "limit", l.name, "user", logName(name), "client", client,
					"retry_after_s", access.RetrySeconds(wait))
			}
			limit = l.name
			break
		}
		tries = append(tries, a)
	}
	if limit == "" {
		ok, err := u.checkCredentials(w, r, name, pw, v.Next)
		if ok || err != nil {
			for _, a := range tries {
				a.Succeeded()
			}
			return err
		}
		v.Error = wrongCredentials
		return u.renderSignIn(w, r, http.StatusUnprocessableEntity, v)
	}
	for _, a := range tries {
		a.Succeeded() // refused before any check: not a failure
	}
	secs := access.RetrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	v.Error = fmt.Sprintf("Too many failed sign-ins: try again in %d s.", secs)
	return u.renderSignIn(w, r, http.StatusTooManyRequests, v)
}

// logName is a typed user name as the log shows it: cut to maxNameLen.
func logName(name string) string {
	if len(name) > maxNameLen {
		return name[:maxNameLen] + "…"
	}
	return name
}

// checkCredentials signs in when name and pw are right, answering the request, and
// reports whether it did; false with no error means wrong credentials, and nothing is
// written.
func (u *UI) checkCredentials(w http.ResponseWriter, r *http.Request, name, pw, next string) (bool, error) {
	ctx := r.Context()
	dummy, err := u.access.Sessions.DummyHash()
	if err != nil {
		return false, request.About(err, "sign in")
	}
	var (
		user store.User
		hash = dummy
	)
	if len(name) <= maxNameLen {
		release, err := u.access.Lookup(ctx)
		if err != nil {
			return false, err
		}
		uu, h, err := u.st.UserPasswordHash(ctx, name)
		release()
		switch {
		case err == nil && h == "":
			// A provider's user has no password: checked against the dummy, refused.
			user = uu
		case err == nil:
			user, hash = uu, h
		case !errors.Is(err, store.ErrNotFound):
			return false, request.About(err, "sign in")
		}
	}
	ok, err := u.access.Sessions.CheckPassword(ctx, pw, hash)
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		// A stored hash this package cannot read is the operator's problem, not the
		// user's answer: log it and answer as for a wrong password.
		u.log.Error("sign in: stored password hash unreadable", "user", name, "error", err.Error())
		ok = false
	}
	if !ok || user.ID == 0 || user.DisabledAt != nil || user.Provider != "" {
		reason := "wrong password"
		switch {
		case user.ID == 0:
			reason = "unknown user"
		case user.Provider != "":
			reason = "signs in through the provider"
		case user.DisabledAt != nil && ok:
			reason = "disabled"
		}
		u.log.Info("sign-in refused", "user", logName(name), "reason", reason, "client", u.access.Client(r))
		return false, nil
	}
	// A new id at every sign-in; the session the browser held before ends.
	if old := u.access.Sessions.SessionID(r); old != "" {
		if err := u.st.DeleteSession(ctx, old, store.Audit{RemoteAddr: u.access.Client(r)}); err != nil {
			return false, request.About(err, "sign in")
		}
	}
	now := u.now()
	id, _, err := u.st.CreateSession(ctx, user.ID, now, store.Audit{Actor: access.UserPrincipal(user).Actor, RemoteAddr: u.access.Client(r)})
	if errors.Is(err, store.ErrNotFound) {
		// Disabled or deleted since the look-up.
		return false, nil
	}
	if err != nil {
		return false, request.About(err, "sign in")
	}
	if n, err := u.st.DeleteExpiredSessions(ctx, now, u.access.Sessions.Timeouts); err != nil {
		u.log.Warn("delete expired sessions", "error", err.Error())
	} else if n > 0 {
		u.log.Debug("expired sessions deleted", "count", n)
	}
	u.log.Info("signed in", "user", user.Name, "client", u.access.Client(r))
	u.access.Sessions.SetSessionCookie(w, id)
	u.access.Sessions.SetDeviceCookie(w, user.Name)
	http.Redirect(w, r, access.SafeNext(next), http.StatusSeeOther)
	return true, nil
}

// signOut ends the session the cookie names, if any, forgets the cookie, and goes to the
// sign-in page, which says so. It needs no live session: signing out of an ended one still clears the
// cookie. A session started through a provider whose discovery names an
// end_session_endpoint goes there instead, to end the provider's session too, and the
// provider sends the browser back to the sign-in page (sso.SignedOutPath).
func (u *UI) signOut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	end := ""
	if id := u.access.Sessions.SessionID(r); id != "" {
		end = u.endSessionURL(r, id)
		if err := u.st.DeleteSession(ctx, id, store.Audit{RemoteAddr: u.access.Client(r)}); err != nil {
			return request.About(err, "sign out")
		}
	}
	u.access.Sessions.ClearSessionCookie(w)
	if end == "" {
		http.Redirect(w, r, "/signin?"+signedOutFlag, http.StatusSeeOther)
		return nil
	}
	// A page, not a redirect: the sign-out form's redirect to another origin would break
	// the policy's form-action 'self'. Its Refresh header goes on without JavaScript.
	w.Header().Set("Refresh", "0; url="+end)
	w.Header().Set("Cache-Control", "no-store")
	return u.render(w, r, http.StatusOK, u.meta(r, "Signing out", ""), web.SigningOutPage(web.SigningOutView{Provider: u.sso.Name(), URL: end}))
}

// endSessionURL is where the browser goes to sign out of the provider too, for the
// session id: "" for a local sign-in's session, a provider whose discovery names no
// end_session_endpoint, or when that cannot be known (logged: the sign-out then ends
// tagdrift's session only).
func (u *UI) endSessionURL(r *http.Request, id string) string {
	if u.sso == nil {
		return ""
	}
	ctx := r.Context()
	token, err := u.st.SessionIDToken(ctx, id)
	if err != nil {
		u.log.Warn("sign-out at the provider skipped", "reason", "id_token", "error", err.Error(), "client", u.access.Client(r))
		return ""
	}
	if token == "" {
		return ""
	}
	end, err := u.sso.EndSessionURL(ctx, token)
	if err != nil {
		u.log.Warn("sign-out at the provider skipped", "provider", u.sso.Issuer(), "reason", "unreachable", "error", err.Error(),
			"client", u.access.Client(r))
		return ""
	}
	return end
}

// signedOut is where the provider sends the browser back after its sign-out: the
// sign-in page, which says the user signed out.
func (u *UI) signedOut(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/signin?"+signedOutFlag, http.StatusSeeOther)
	return nil
}

// signInRoutes are the routes that need no session.
func (u *UI) signInRoutes(r chi.Router) {
	r.Get("/signin", u.handle(u.signInPage))
	r.Post("/signin", u.handle(u.signIn))
	r.Post("/signout", u.handle(u.signOut))
	if u.sso != nil {
		r.Get(ssoStartPath, u.handle(u.ssoStart))
		r.Get(sso.CallbackPath, u.handle(u.ssoCallback))
		r.Get(sso.SignedOutPath, u.handle(u.signedOut))
	}
}
