package ui

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// ssoStartPath starts a sign-in through the provider: the sign-in page's button.
const ssoStartPath = "/signin/sso"

// ssoStart sends the browser to the provider, with a fresh state, nonce and PKCE
// verifier in the flow cookie. A provider that cannot be reached ends on a page that
// says so.
func (u *UI) ssoStart(w http.ResponseWriter, r *http.Request) error {
	next := access.SafeNext(r.URL.Query().Get("next"))
	to, err := u.sso.Begin(r.Context(), w, next)
	if err != nil {
		return u.ssoFailed(w, r, err)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// ssoCallback finishes a sign-in through the provider: the answer checked against the
// flow cookie, the code exchanged, the ID token verified, the role read from the
// groups; then the session starts as for a local sign-in (a new id, the old session
// ended, the same cookie), ending at the provider session maximum at the latest.
func (u *UI) ssoCallback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, next, err := u.sso.Finish(ctx, w, r)
	if err != nil {
		return u.ssoFailed(w, r, err)
	}
	client := u.access.Client(r)
	if old := u.access.Sessions.SessionID(r); old != "" {
		if err := u.st.DeleteSession(ctx, old, store.Audit{RemoteAddr: client}); err != nil {
			return request.About(err, "sign in")
		}
	}
	now := u.now()
	ends := now.Add(min(u.sso.SessionMax(), u.access.Sessions.Timeouts.Absolute))
	a := store.Audit{Actor: "sso:" + id.Subject, RemoteAddr: client}
	sid, sess, err := u.st.SignInWithProvider(ctx, store.ProviderSignIn{
		Provider: u.sso.Issuer(), Subject: id.Subject, Name: id.Name, Grants: id.Grants, Groups: id.Matched, EndsAt: ends,
	}, now, a)
	switch {
	case errors.Is(err, store.ErrNoRole):
		u.log.Info("sign-in refused", "provider", u.sso.Issuer(), "subject", id.Subject, "user", logName(id.Name),
			"reason", "no mapped group", "groups", len(id.Groups), "client", client)
		return u.renderSignInFailed(w, r, http.StatusForbidden, web.SignInFailedView{
			Title:  "No access to tagdrift",
			Detail: fmt.Sprintf("%s signed you in as %s, but none of your groups gives access to tagdrift.", u.sso.Name(), id.Name),
			Hint:   "Ask an administrator to add you to a group that is mapped to the viewer or admin role, then sign in again.",
			Reason: "no_role",
		})
	case errors.Is(err, store.ErrUserDisabled):
		u.log.Info("sign-in refused", "provider", u.sso.Issuer(), "subject", id.Subject, "user", logName(id.Name),
			"reason", "disabled", "client", client)
		return u.renderSignInFailed(w, r, http.StatusForbidden, web.SignInFailedView{
			Title:  "Account disabled",
			Detail: fmt.Sprintf("Your tagdrift account (signed in through %s) is disabled.", u.sso.Name()),
			Hint:   "Ask an administrator to enable it.",
			Reason: "disabled",
		})
	case err != nil:
		return request.About(err, "sign in")
	}
	if n, err := u.st.DeleteExpiredSessions(ctx, now, u.access.Sessions.Timeouts); err != nil {
		u.log.Warn("delete expired sessions", "error", err.Error())
	} else if n > 0 {
		u.log.Debug("expired sessions deleted", "count", n)
	}
	// The ID token is the hint of the sign-out at the provider: without it, the sign-out
	// ends tagdrift's session only.
	if err := u.st.SetSessionIDToken(ctx, sid, id.IDToken); err != nil {
		u.log.Warn("keep the provider's ID token for sign-out", "error", err.Error(), "client", client)
	}
	u.log.Info("signed in", "user", sess.User.Name, "provider", u.sso.Issuer(), "subject", id.Subject, "role", sess.User.Role,
		"client", client)
	u.access.Sessions.SetSessionCookie(w, sid)
	http.Redirect(w, r, access.SafeNext(next), http.StatusSeeOther)
	return nil
}

// ssoFailed logs a failed sign-in through the provider and renders the page of its
// kind; the cause is in the log only.
func (u *UI) ssoFailed(w http.ResponseWriter, r *http.Request, err error) error {
	kind := sso.KindOf(err)
	if kind == 0 {
		return request.About(err, "sign in through provider")
	}
	name := u.sso.Name()
	u.log.Warn("sign-in through provider failed", "provider", u.sso.Issuer(), "reason", kind.String(), "error", err.Error(),
		"client", u.access.Client(r))
	v := web.SignInFailedView{Reason: kind.String(), Title: "Sign-in failed"}
	status := http.StatusBadGateway
	local := ""
	if !u.noLocal {
		local = " or sign in with a local account"
	}
	switch kind {
	case sso.Denied:
		status, v.Title = http.StatusForbidden, "Sign-in cancelled"
		v.Detail = fmt.Sprintf("%s says you did not allow tagdrift to sign you in. Nothing was signed in.", name)
		v.Hint = "To use tagdrift, sign in again and allow it."
	case sso.ProviderRefused:
		v.Detail = fmt.Sprintf("%s refused the sign-in. Nothing was signed in; the service's log says why.", name)
		v.Hint = "Try again; if it persists, an administrator can check the provider's settings for tagdrift."
	case sso.State:
		status, v.Title = http.StatusBadRequest, "Sign-in expired or not started here"
		v.Detail = "This answer does not belong to a sign-in started in this browser in the last 10 minutes: it may be old, opened in another tab, or sent by another site. Nothing was signed in."
		v.Hint = "Start again from the sign-in page."
	case sso.CodeRefused:
		status = http.StatusBadRequest
		v.Detail = fmt.Sprintf("%s refused to complete the sign-in: its one-time code was already used, has expired, or belongs to another application. Nothing was signed in.", name)
		v.Hint = "Start again from the sign-in page."
	case sso.BadToken:
		v.Detail = fmt.Sprintf("The answer of %s could not be verified (a token issued for another application, expired, or wrongly signed). Nothing was signed in; the service's log says why.", name)
		v.Hint = "An administrator can check the provider's settings for tagdrift (client id, issuer)."
	case sso.GroupsOverflow:
		v.Detail = fmt.Sprintf("%s sent no list of your groups: you are in more groups than fit in its token.", name)
		v.Hint = "An administrator can have the provider send only the groups assigned to tagdrift (docs/sso.md, Entra ID)."
	case sso.Unreachable:
		status, v.Title = http.StatusBadGateway, name+" cannot be reached"
		v.Detail = fmt.Sprintf("tagdrift could not reach %s to sign you in. Nothing was signed in.", name)
		v.Hint = "Try again in a moment" + local + "."
	}
	return u.renderSignInFailed(w, r, status, v)
}

func (u *UI) renderSignInFailed(w http.ResponseWriter, r *http.Request, status int, v web.SignInFailedView) error {
	return u.render(w, r, status, u.meta(r, v.Title, ""), web.SignInFailedPage(v))
}
