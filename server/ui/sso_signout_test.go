package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tagdrift/tagdrift/internal/oidctest"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// TestSSOSignOutBrowser signs in through a real OpenID provider that keeps a session
// of its own (single sign-on, as real providers do), in Chromium, and signs out. With
// an end_session_endpoint in the provider's discovery, sign-out ends the provider's
// session too (RP-Initiated Logout, with the session's ID token as id_token_hint) and
// comes back to the sign-in page: signing in again asks for the provider's login again.
// Without one, sign-out ends tagdrift's session only, as before: signing in again
// passes straight through the provider.
func TestSSOSignOutBrowser(t *testing.T) {
	t.Parallel()
	ctx, problems := chromium(t)
	for _, tc := range []struct {
		name       string
		endSession bool
	}{{"end_session_endpoint", true}, {"no end_session_endpoint", false}} {
		idp := oidctest.Start(t)
		for _, u := range ssoUsers {
			idp.AddUser(u)
		}
		idp.RememberLogins()
		if !tc.endSession {
			idp.HideEndSession()
		}
		e := newSSOEnv(t, idp, nil)
		run := func(what string, actions ...chromedp.Action) {
			t.Helper()
			if err := chromedp.Run(ctx, actions...); err != nil {
				t.Fatalf("%s: %s: %v", tc.name, what, err)
			}
		}
		location := func() string {
			t.Helper()
			var s string
			run("location", chromedp.Location(&s))
			return s
		}
		// startSignIn clicks the provider's button and reports whether the provider
		// asked for its login (false: it passed straight through, signed in).
		startSignIn := func() bool {
			t.Helper()
			// Where the sign-in page's button goes (a signed-in browser is not shown the page).
			run("start a sign-in", chromedp.Navigate(e.srv.URL+"/signin/sso?next=/clusters"))
			// Until the browser is at the provider's login form or back signed in.
			for range 100 {
				switch at := location(); {
				case strings.HasPrefix(at, idp.URL+"/login"):
					run("the provider's login", chromedp.WaitVisible(`#login`, chromedp.ByQuery))
					return true
				case at == e.srv.URL+"/clusters":
					run("signed in", chromedp.WaitVisible(`[data-testid=viewer]`, chromedp.ByQuery))
					return false
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("%s: a sign-in ended at %s", tc.name, location())
			return false
		}
		login := func(name string) {
			t.Helper()
			run("log in at the provider", chromedp.SendKeys(`#login`, name, chromedp.ByQuery), chromedp.Click(`#allow`, chromedp.ByQuery),
				chromedp.WaitVisible(`[data-testid=viewer]`, chromedp.ByQuery))
		}
		run("clear cookies", network.ClearBrowserCookies())
		if !startSignIn() {
			t.Fatalf("%s: the first sign-in did not ask for the provider's login", tc.name)
		}
		login("ada")
		if got := strings.TrimPrefix(location(), e.srv.URL); got != "/clusters" {
			t.Fatalf("%s: ada ended at %s", tc.name, got)
		}
		// The provider's session is real: a second sign-in passes straight through.
		if startSignIn() {
			t.Fatalf("%s: the provider asked for its login again while its session lasts", tc.name)
		}
		ends := idp.EndSessions()
		run("sign out", chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=signed-out]`, chromedp.ByQuery))
		if got := strings.TrimPrefix(location(), e.srv.URL); got != "/signin?signed-out" {
			t.Errorf("%s: signed out at %s", tc.name, got)
		}
		if c := e.sessionCookie(ctx, t); c != "" {
			t.Errorf("%s: sign-out left the session cookie", tc.name)
		}
		asked := startSignIn()
		switch {
		case tc.endSession && idp.EndSessions() != ends+1:
			t.Errorf("%s: sign-out reached the provider's end_session_endpoint %d times, want once", tc.name, idp.EndSessions()-ends)
		case tc.endSession && !asked:
			t.Errorf("%s: after sign-out, signing in again passed straight through the provider (its session lives on)", tc.name)
		case !tc.endSession && idp.EndSessions() != ends:
			t.Errorf("%s: sign-out went to the provider", tc.name)
		case !tc.endSession && asked:
			t.Errorf("%s: without an end_session_endpoint, sign-out changed the provider's session", tc.name)
		}
		if asked {
			login("ada")
			if got := strings.TrimPrefix(location(), e.srv.URL); got != "/clusters" {
				t.Errorf("%s: signed in again at %s", tc.name, got)
			}
		}
		if tc.endSession && !strings.Contains(e.log.String(), `"msg":"signed in"`) {
			t.Errorf("%s: no sign-in in the log", tc.name)
		}
	}
	for _, p := range problems() {
		if !strings.Contains(p, "Failed to load resource: the server responded with a status of") {
			t.Errorf("browser problem: %s", p)
		}
	}
}

// TestSSOSignOut is TestSSOSignOutBrowser over plain HTTP (a client with a cookie jar),
// and checks the hand-over: the sign-out answers a page whose Refresh header names the
// provider's end_session_endpoint with the session's ID token as id_token_hint, the
// client id and the post-logout redirect URI; the provider ends its session and sends
// the browser back to the sign-in page; the next sign-in asks for the provider's login.
// Without an end_session_endpoint the sign-out goes to the sign-in page at once and the
// provider's session lives on. A local user's sign-out never goes to the provider.
func TestSSOSignOut(t *testing.T) {
	t.Parallel()
	for _, endSession := range []bool{true, false} {
		idp := oidctest.Start(t)
		for _, u := range ssoUsers {
			idp.AddUser(u)
		}
		idp.RememberLogins()
		if !endSession {
			idp.HideEndSession()
		}
		e := newSSOEnv(t, idp, nil)
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		do := func(res *http.Response, err error) *http.Response {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res
		}
		// startSignIn reports whether the provider asked for its login, and the auth
		// request it asked for.
		startSignIn := func() (bool, string) {
			t.Helper()
			res := do(c.Get(e.srv.URL + "/signin/sso?next=/clusters"))
			if strings.HasPrefix(res.Request.URL.String(), idp.URL+"/login") {
				return true, res.Request.URL.Query().Get("authRequestID")
			}
			if res.Request.URL.String() != e.srv.URL+"/clusters" {
				t.Fatalf("end session %v: a sign-in passed through the provider to %s", endSession, res.Request.URL)
			}
			return false, ""
		}
		asked, id := startSignIn()
		if !asked {
			t.Fatalf("end session %v: the first sign-in did not ask for the provider's login", endSession)
		}
		res := do(c.PostForm(idp.URL+"/login", url.Values{"id": {id}, "login": {"ada"}, "do": {"allow"}}))
		if res.Request.URL.String() != e.srv.URL+"/clusters" {
			t.Fatalf("end session %v: ada's sign-in ended at %s", endSession, res.Request.URL)
		}
		if asked, _ := startSignIn(); asked {
			t.Fatalf("end session %v: the provider asked for its login again while its session lasts", endSession)
		}
		// Sign out, without following the answer.
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res = do(c.PostForm(e.srv.URL+"/signout", nil))
		c.CheckRedirect = nil
		refresh := res.Header.Get("Refresh")
		if !endSession {
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin?signed-out" || refresh != "" {
				t.Fatalf("sign-out without an end_session_endpoint: %d to %q (refresh %q)", res.StatusCode, res.Header.Get("Location"), refresh)
			}
			if asked, _ := startSignIn(); asked || idp.EndSessions() != 0 {
				t.Errorf("without an end_session_endpoint, the sign-out changed the provider's session (%d end-session requests)", idp.EndSessions())
			}
			continue
		}
		to, ok := strings.CutPrefix(refresh, "0; url=")
		if res.StatusCode != http.StatusOK || !ok || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("sign-out: %d, Refresh %q, Cache-Control %q", res.StatusCode, refresh, res.Header.Get("Cache-Control"))
		}
		end, err := url.Parse(to)
		if err != nil {
			t.Fatal(err)
		}
		q := end.Query()
		if end.Scheme+"://"+end.Host != idp.URL || q.Get("client_id") != "tagdrift" ||
			q.Get("post_logout_redirect_uri") != e.srv.URL+"/signin/sso/signed-out" || strings.Count(q.Get("id_token_hint"), ".") != 2 {
			t.Fatalf("sign-out goes to %s", to)
		}
		res = do(c.Get(to))
		if res.Request.URL.String() != e.srv.URL+"/signin?signed-out" || idp.EndSessions() != 1 {
			t.Fatalf("the provider's sign-out ended at %s (%d end-session requests)", res.Request.URL, idp.EndSessions())
		}
		if asked, _ := startSignIn(); !asked {
			t.Errorf("after sign-out, signing in again passed straight through the provider (its session lives on)")
		}
		// A local user's sign-out stays here.
		hash, err := password.Hash(testPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.AddUser(context.Background(), store.NewUser{Name: "root", Role: store.RoleAdmin, PasswordHash: hash},
			store.Audit{Actor: "cli:test"}); err != nil {
			t.Fatal(err)
		}
		res = do(c.PostForm(e.srv.URL+"/signin", url.Values{"name": {"root"}, "password": {testPassword}, "next": {"/clusters"}}))
		if res.Request.URL.String() != e.srv.URL+"/clusters" {
			t.Fatalf("root's sign-in ended at %s", res.Request.URL)
		}
		res = do(c.PostForm(e.srv.URL+"/signout", nil))
		if res.Request.URL.String() != e.srv.URL+"/signin?signed-out" || idp.EndSessions() != 1 {
			t.Errorf("a local user's sign-out ended at %s (%d end-session requests)", res.Request.URL, idp.EndSessions())
		}
	}
}
