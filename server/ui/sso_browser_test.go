package ui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tagdrift/tagdrift/internal/oidctest"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/store"
)

// syncBuffer is a log sink tests read while handlers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ssoEnv is the UI signing users in through a real OpenID provider (internal/oidctest)
// over real HTTP, with its log.
type ssoEnv struct {
	*testEnv
	idp *oidctest.Provider
	srv *httptest.Server
	log *syncBuffer
}

// Provider users: in an admin group, a viewer group, and no mapped group.
var ssoUsers = []oidctest.User{
	{Subject: "sub-ada", Login: "ada", Email: "ada@example.com", Groups: []string{"platform-admins", "developers"}},
	{Subject: "sub-vic", Login: "vic", Email: "vic@example.com", Groups: []string{"developers"}},
	{Subject: "sub-nora", Login: "nora", Email: "nora@example.com", Groups: []string{"marketing"}},
}

// newSSOEnv starts a provider (idp, nil for one started here) and the UI with
// sign-in through it, served on a loopback port.
func newSSOEnv(t *testing.T, idp *oidctest.Provider, change func(*testConfig)) *ssoEnv {
	t.Helper()
	return newSSOEnvRoles(t, idp, map[string]string{"platform-admins": store.RoleAdmin, "developers": store.RoleViewer}, nil, change)
}

// newSSOEnvRoles is newSSOEnv with the role mappings roles and their cluster groups
// scopes (sso.Config.Roles, RoleScopes).
func newSSOEnvRoles(t *testing.T, idp *oidctest.Provider, roles map[string]string, scopes map[string][]string, change func(*testConfig)) *ssoEnv {
	t.Helper()
	if idp == nil {
		idp = oidctest.Start(t)
		for _, u := range ssoUsers {
			idp.AddUser(u)
		}
	}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	idp.AddClient("tagdrift", "tagdrift-client-secret", srv.URL+sso.CallbackPath)
	idp.AllowPostLogout("tagdrift", srv.URL+sso.SignedOutPath)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	p, err := sso.New(sso.Config{
		Issuer: idp.URL, ClientID: "tagdrift", ClientSecret: "tagdrift-client-secret", RedirectURL: srv.URL + sso.CallbackPath,
		Roles: roles, RoleScopes: scopes,
		Name: "Test IdP", FlowKeys: [][]byte{bytes.Repeat([]byte{7}, 32)}, PlainCookie: true, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *testConfig) {
		c.SSO, c.Cookies, c.Logger = p, access.Cookies{Plain: true}, logger
		if change != nil {
			change(c)
		}
	})
	h = e.h
	return &ssoEnv{testEnv: e, idp: idp, srv: srv, log: logs}
}

// TestSSOSignInBrowser signs in through a real OpenID provider in Chromium: users of an
// admin group, a viewer group and no mapped group; consent denied; a forged state; a
// replayed code; a token for another client; the token endpoint down mid-flight; a
// provider down before the first sign-in. Each ends where it should, with a session as
// a local sign-in makes (same cookie, sign-out), or on a page that says what happened
// and offers the sign-in page again, and in the log.
func TestSSOSignInBrowser(t *testing.T) {
	t.Parallel()
	ctx, problems := chromium(t)
	e := newSSOEnv(t, nil, nil)
	bg := context.Background()
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		run("text of "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return strings.TrimSpace(s)
	}
	location := func() string {
		t.Helper()
		var s string
		run("location", chromedp.Location(&s))
		return strings.TrimPrefix(s, e.srv.URL)
	}
	fresh := func() {
		t.Helper()
		run("clear cookies", network.ClearBrowserCookies())
	}
	// signIn starts at the sign-in page, clicks the provider's button and acts at the
	// provider's login page (allow or deny).
	signIn := func(login, do string) {
		t.Helper()
		run("sign in as "+login,
			chromedp.Navigate(e.srv.URL+"/signin?next=/clusters"),
			chromedp.WaitVisible(`[data-testid=signin-sso]`, chromedp.ByQuery),
			chromedp.Click(`[data-testid=signin-sso]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#login`, chromedp.ByQuery),
			chromedp.SendKeys(`#login`, login, chromedp.ByQuery),
			chromedp.Click("#"+do, chromedp.ByQuery),
			chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		)
	}
	failed := func(want string) {
		t.Helper()
		var reason string
		var ok bool
		run("failure reason", chromedp.AttributeValue(`[data-testid=signin-failed]`, "data-reason", &reason, &ok, chromedp.ByQuery))
		if reason != want {
			t.Fatalf("ended at %s with %q (%q), want the %s page", location(), reason, text("main"), want)
		}
		if !strings.Contains(e.log.String(), `"reason":"`+want+`"`) && want != "no_role" {
			t.Errorf("log has no failure of reason %s:\n%s", want, e.log.String())
		}
		if c := e.sessionCookie(ctx, t); c != "" {
			t.Errorf("a failed sign-in (%s) left a session cookie", want)
		}
		// The way back is a link, never a redirect: no loop.
		run("back to sign-in", chromedp.Click(`[data-testid=signin-again]`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=signin-sso]`, chromedp.ByQuery))
	}

	audit := axeAudit(t, ctx)

	// The sign-in page offers the provider's button and the local form.
	run("sign-in page", chromedp.Navigate(e.srv.URL+"/signin"), chromedp.WaitVisible(`[data-testid=signin-form]`, chromedp.ByQuery))
	if got := text(`[data-testid=signin-sso]`); got != "Sign in with Test IdP" {
		t.Fatalf("provider button says %q", got)
	}
	audit("sign-in page")

	// An admin group's user: signed in, sent on to where they were going, admin.
	signIn("ada", "allow")
	if got := location(); got != "/clusters" {
		t.Fatalf("ada ended at %s (%q)", got, text("main"))
	}
	ada, err := e.st.UserByName(bg, "ada")
	if err != nil || ada.Role != store.RoleAdmin || ada.Subject != "sub-ada" || ada.Provider != e.idp.URL || ada.LastSignInAt == nil {
		t.Fatalf("ada in the store: %+v, %v", ada, err)
	}
	if got := text(`[data-testid=viewer]`); got != "ada" {
		t.Fatalf("the page shows %q signed in", got)
	}
	// The users list shows the provider and the last sign-in.
	run("users page", chromedp.Navigate(e.srv.URL+"/admin/users"), chromedp.WaitVisible(`[data-user=ada]`, chromedp.ByQuery))
	if got := text(`[data-user=ada] [data-testid=user-provider]`); got != strings.TrimPrefix(e.idp.URL, "http://") {
		t.Errorf("users list: ada signs in with %q", got)
	}
	if got := text(`[data-user=ada] [data-testid=user-last-signin]`); got == "never" || got == "" {
		t.Errorf("users list: ada's last sign-in %q", got)
	}
	audit("users list")
	// Sign-out as for a local user.
	run("sign out", chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=signed-out]`, chromedp.ByQuery))
	if c := e.sessionCookie(ctx, t); c != "" {
		t.Fatal("sign-out left the session cookie")
	}

	// A viewer group's user: signed in as a viewer, refused the admin pages.
	fresh()
	signIn("vic", "allow")
	if got := location(); got != "/clusters" {
		t.Fatalf("vic ended at %s", got)
	}
	if vic, _ := e.st.UserByName(bg, "vic"); vic.Role != store.RoleViewer {
		t.Fatalf("vic's role %q", vic.Role)
	}
	run("vic at admin", chromedp.Navigate(e.srv.URL+"/admin/users"), chromedp.WaitVisible(`main h1`, chromedp.ByQuery))
	if got := text(`main h1`); got != "Forbidden" {
		t.Fatalf("a viewer at /admin/users sees %q", got)
	}
	// vic joins the admin group: the role is re-read at the next sign-in.
	e.idp.SetGroups("vic", "developers", "platform-admins")
	fresh()
	signIn("vic", "allow")
	if vic, _ := e.st.UserByName(bg, "vic"); vic.Role != store.RoleAdmin {
		t.Fatalf("vic's role after joining the admin group: %q", vic.Role)
	}

	// No mapped group: refused with a page, no session, audited.
	fresh()
	signIn("nora", "allow")
	audit("no access page")
	failed("no_role")
	if evs, _ := e.st.FindAuditEvents(bg, store.AuditFilter{Action: store.ActionUserSignInRefused, Limit: 5}); len(evs) != 1 || evs[0].Detail["subject"] != "sub-nora" {
		t.Errorf("refused sign-in audit: %+v", evs)
	}

	// Consent denied at the provider.
	fresh()
	signIn("ada", "deny")
	failed("denied")

	// A forged state: a sign-in started in this browser, an answer with another state.
	fresh()
	run("start", chromedp.Navigate(e.srv.URL+"/signin/sso"), chromedp.WaitVisible(`#login`, chromedp.ByQuery))
	before := e.idp.Exchanges()
	run("forged", chromedp.Navigate(e.srv.URL+sso.CallbackPath+"?code=stolen&state=forged"), chromedp.WaitVisible(`main h1`, chromedp.ByQuery))
	failed("state")
	if e.idp.Exchanges() != before {
		t.Error("a forged state reached the token endpoint")
	}

	// A replayed code: the right state, a code already exchanged.
	fresh()
	e.idp.ReplayCode()
	signIn("ada", "allow")
	failed("code_refused")

	// An ID token issued for another client.
	fresh()
	e.idp.IssueFor("another-client")
	signIn("ada", "allow")
	failed("bad_token")
	e.idp.IssueFor("")

	// The token endpoint goes down mid-flight.
	fresh()
	e.idp.TokenEndpointDown(true)
	signIn("ada", "allow")
	failed("unreachable")
	e.idp.TokenEndpointDown(false)

	// The flow works again afterwards, and sessions are those of local sign-in.
	fresh()
	signIn("ada", "allow")
	if got := location(); got != "/clusters" {
		t.Fatalf("after the failures, ada ended at %s", got)
	}

	// A provider down before the first sign-in: the button ends on a page, local
	// sign-in still offered.
	down := oidctest.Start(t)
	down.Stop()
	e2 := newSSOEnv(t, down, nil)
	fresh()
	run("down", chromedp.Navigate(e2.srv.URL+"/signin"), chromedp.Click(`[data-testid=signin-sso]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=signin-failed]`, chromedp.ByQuery))
	e.srv, e.log = e2.srv, e2.log // failed reads this env's log and URL
	failed("unreachable")
	if got := text(`main h1`); !strings.Contains(got, "Sign in") {
		t.Errorf("back at %q", got)
	}
	// Error pages answer with their status, which Chromium logs: anything else is a
	// problem (a CSP violation, a script error).
	for _, p := range problems() {
		if !strings.Contains(p, "Failed to load resource: the server responded with a status of") {
			t.Errorf("browser problem: %s", p)
		}
	}
}

// axeAudit returns a function that runs axe-core ($TAGDRIFT_AXE_JS) on the page and
// fails the test for each serious or critical violation; without the script it does
// nothing, except under CI=true, where it fails.
func axeAudit(t *testing.T, ctx context.Context) func(name string) {
	t.Helper()
	path := os.Getenv("TAGDRIFT_AXE_JS")
	script, err := os.ReadFile(path)
	if path == "" || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("axe-core: TAGDRIFT_AXE_JS=%q: %v (hack/test-deps.sh installs it)", path, err)
		}
		t.Logf("no axe-core (TAGDRIFT_AXE_JS): pages not audited")
		return func(string) {}
	}
	return func(name string) {
		t.Helper()
		var loaded bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(string(script)+";typeof axe === 'object'", &loaded)); err != nil || !loaded {
			t.Fatalf("load axe-core: %v", err)
		}
		var res []struct{ ID, Impact, Help string }
		if err := chromedp.Run(ctx, chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, impact: v.impact, help: v.help})))`,
			&res, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
			t.Fatalf("axe on %s: %v", name, err)
		}
		for _, v := range res {
			t.Errorf("axe on %s: %s %s (%s)", name, v.Impact, v.ID, v.Help)
		}
	}
}

// sessionCookie is the session cookie the browser holds for the env; "" for none.
func (e *ssoEnv) sessionCookie(ctx context.Context, t *testing.T) string {
	t.Helper()
	var cookies []*network.Cookie
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{e.srv.URL}).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		if c.Name == "tagdrift_session" && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// TestSSOLocalSignInOff checks that with local sign-in turned off the page offers the
// provider alone and a posted name and password is refused.
func TestSSOLocalSignInOff(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, nil, func(c *testConfig) { c.NoLocalSignIn = true })
	// Refused before any password check: the hash is never read.
	if _, err := e.st.AddUser(context.Background(), store.NewUser{Name: "root", Role: store.RoleAdmin,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"}, store.Audit{Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(e.srv.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if !strings.Contains(body, `data-testid="signin-sso"`) || strings.Contains(body, `data-testid="signin-form"`) {
		t.Fatalf("sign-in page with local sign-in off:\n%s", body)
	}
	res, err = http.PostForm(e.srv.URL+"/signin", map[string][]string{"name": {"root"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("local sign-in with it off: %d", res.StatusCode)
	}
	res.Body.Close()
}

// TestSSOSessionEndsAtMaximum checks that a session started through the provider ends
// --oidc-session-max (8 h by default) after sign-in however used, where the idle and
// absolute limits (12 h, 7 days) would let it go on.
func TestSSOSessionEndsAtMaximum(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newSSOEnv(t, nil, func(c *testConfig) { c.Now = clock })
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	get := func(u string) *http.Response {
		t.Helper()
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := get(e.srv.URL + "/signin/sso")
	res, err := c.PostForm(e.idp.URL+"/login", url.Values{"id": {res.Request.URL.Query().Get("authRequestID")}, "login": {"vic"}, "do": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.String() != e.srv.URL+"/" || res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended at %s (%d)", res.Request.URL, res.StatusCode)
	}
	// Used all along, it lasts 8 hours.
	for h := 1; h <= 7; h++ {
		advance(time.Hour)
		if res := get(e.srv.URL + "/clusters"); res.Request.URL.Path != "/clusters" {
			t.Fatalf("%d h after sign-in: sent to %s", h, res.Request.URL)
		}
	}
	advance(time.Hour)
	if res := get(e.srv.URL + "/clusters"); res.Request.URL.Path != "/signin" {
		t.Fatalf("8 h after sign-in: still at %s", res.Request.URL)
	}
}
