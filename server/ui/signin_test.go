package ui

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// uiEnv is the web UI on a fresh database, with its UI reachable so that tests can
// watch the password checks.
type uiEnv struct {
	t     testing.TB
	st    *store.Store
	u     *UI
	h     http.Handler
	clock *testClock
	cfg   testConfig
}

func newUIEnv(t testing.TB, change func(*testConfig)) *uiEnv {
	t.Helper()
	st, _ := storetest.New(t, "tagdrift_ui")
	sched, err := scheduler.New(scheduler.Config{Store: st, Dialer: &kubeconfig.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	cfg := testConfig{Scans: sched, Config: access.Config{Store: st, Now: clock.Now, RateLimit: 1000, RateBurst: 1000, AdminToken: testAdminToken}}
	if change != nil {
		change(&cfg)
	}
	u, h := handler(cfg)
	return &uiEnv{t: t, st: st, u: u, h: h, clock: clock, cfg: cfg}
}

// passwords of the users addUser made, by name.
const testPassword = "correct horse battery staple"

func (e *uiEnv) addUser(name, role string) store.User {
	e.t.Helper()
	hash, err := password.Hash(testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.st.AddUser(context.Background(), store.NewUser{Name: name, Role: role, PasswordHash: hash}, store.Audit{Actor: "cli:test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// authPage is one answer of the UI.
type authPage struct {
	status int
	header http.Header
	body   string
	doc    *goquery.Document
}

func (p authPage) find(sel string) *goquery.Selection { return p.doc.Find(sel) }

func (p authPage) text(sel string) string { return strings.TrimSpace(p.doc.Find(sel).Text()) }

// browser is a client of the UI that keeps its cookie, as a browser does.
type browser struct {
	e      *uiEnv
	remote string // RemoteAddr; default 192.0.2.1:1234 (not loopback)
	host   string // Host; default tagdrift.example
	cookie *http.Cookie
	device *http.Cookie // the device cookie, kept apart from the session's
}

func (e *uiEnv) browser() *browser { return &browser{e: e} }

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) authPage {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "192.0.2.1:1234"
	if b.remote != "" {
		req.RemoteAddr = b.remote
	}
	req.Host = "tagdrift.example"
	if b.host != "" {
		req.Host = b.host
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	if b.device != nil && strings.HasPrefix(path, "/signin") {
		req.AddCookie(b.device)
	}
	rec := httptest.NewRecorder()
	b.e.h.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.Name == "tagdrift_device" {
			b.device = c
			continue
		}
		if c.MaxAge < 0 {
			b.cookie = nil
		} else {
			b.cookie = c
		}
	}
	p := authPage{status: res.StatusCode, header: res.Header, body: rec.Body.String()}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		b.e.t.Fatal(err)
	}
	p.doc = doc
	return p
}

func (b *browser) get(path string) authPage {
	b.e.t.Helper()
	return b.do(http.MethodGet, path, nil, nil)
}

func (b *browser) post(path string, form url.Values) authPage {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do(http.MethodPost, path, form, nil)
}

// signIn signs in as name with testPassword and fails the test if that does not work.
func (b *browser) signIn(name string) {
	b.e.t.Helper()
	p := b.post("/signin", url.Values{"name": {name}, "password": {testPassword}, "next": {"/"}})
	if p.status != http.StatusSeeOther || b.cookie == nil {
		b.e.t.Fatalf("sign in as %s: %d %s", name, p.status, p.text("[data-testid=signin-error]"))
	}
}

func wantStatus(t testing.TB, p authPage, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d: %.600s", p.status, status, p.body)
	}
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("alice", store.RoleAdmin)
	b := e.browser()

	// A page without a session sends to the sign-in page, which brings back after.
	p := b.get("/?x=1")
	wantStatus(t, p, http.StatusSeeOther)
	if loc := p.header.Get("Location"); loc != "/signin?next=%2F%3Fx%3D1" {
		t.Errorf("redirect to %q", loc)
	}
	p = b.get("/signin?next=%2F%3Fx%3D1")
	wantStatus(t, p, http.StatusOK)
	if v, _ := p.find("[data-testid=signin-form] input[name=next]").Attr("value"); v != "/?x=1" {
		t.Errorf("next = %q", v)
	}
	for _, sel := range []string{"label[for=name]", "label[for=password]", "input#password[type=password][autocomplete=current-password]"} {
		if p.find(sel).Length() != 1 {
			t.Errorf("sign-in form lacks %s", sel)
		}
	}
	// A Secure cookie with no https --external-url: the page says why the sign-in may
	// not stick (TestCookieFromConfiguration: whatever a proxy's headers say).
	if p.find("[data-testid=signin-insecure]").Length() != 1 {
		t.Error("no warning on plain http")
	}

	// Empty fields are refused next to the field.
	p = b.post("/signin", url.Values{"name": {""}, "password": {""}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-name]") == "" || p.text("[data-testid=error-password]") == "" {
		t.Errorf("no message next to the empty fields: %s", p.body)
	}
	if v, _ := p.find("input#name").Attr("aria-invalid"); v != "true" {
		t.Error("the empty name is not marked invalid")
	}

	// Right credentials: a Secure, __Host- cookie, HttpOnly, SameSite=Lax, and back.
	p = b.post("/signin", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {"/?x=1"}})
	wantStatus(t, p, http.StatusSeeOther)
	if loc := p.header.Get("Location"); loc != "/?x=1" {
		t.Errorf("after sign-in to %q", loc)
	}
	c := b.cookie
	if c == nil || c.Name != "__Host-tagdrift_session" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
		c.Path != "/" || c.Domain != "" || len(c.Value) != 43 {
		t.Fatalf("session cookie %+v", c)
	}
	if c.MaxAge != int((7 * 24 * time.Hour).Seconds()) {
		t.Errorf("cookie max-age %d, want the absolute timeout", c.MaxAge)
	}
	p = b.get("/")
	wantStatus(t, p, http.StatusOK)
	if got := p.text("[data-testid=viewer]"); got != "alice" {
		t.Errorf("viewer %q, want alice", got)
	}
	if p.find("[data-testid=sign-out]").Length() != 1 {
		t.Error("no sign-out button")
	}
	// Signed in, the sign-in page sends on.
	p = b.get("/signin?next=/workloads")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/workloads" {
		t.Errorf("signed in, /signin answers %d to %q", p.status, p.header.Get("Location"))
	}

	// Sign-out deletes the session: the old cookie no longer works.
	old := b.cookie
	p = b.post("/signout", nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin?signed-out" || b.cookie != nil {
		t.Fatalf("sign-out: %d to %q, cookie %+v", p.status, p.header.Get("Location"), b.cookie)
	}
	// The sign-in page it goes to says so, and shows no navigation but the brand.
	p = b.get(p.header.Get("Location"))
	wantStatus(t, p, http.StatusOK)
	if got := p.text("[data-testid=signed-out]"); got != "You are signed out." {
		t.Errorf("after sign-out the page says %q", got)
	}
	if n := p.find("[data-testid=nav], [data-testid=search], [data-testid=sign-out], [data-testid=viewer]").Length(); n != 0 {
		t.Errorf("signed out, the page shows %d navigation elements", n)
	}
	// The flag shows one fixed sentence: its value is never shown, and a plain visit
	// says nothing.
	p = b.get("/signin?signed-out=Your+account+is+locked%2C+call+555")
	if got := p.text("[data-testid=signed-out]"); got != "You are signed out." || strings.Contains(string(p.body), "555") {
		t.Errorf("a forged flag shows %q", got)
	}
	if p = b.get("/signin"); p.find("[data-testid=signed-out]").Length() != 0 {
		t.Error("a plain visit to the sign-in page says signed out")
	}
	b.cookie = old
	if p = b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("after sign-out, the old cookie still opens a page: %d", p.status)
	}

	evs, err := e.st.FindAuditEvents(context.Background(), store.AuditFilter{Target: "alice", Action: "user.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Actor+" "+ev.Action+" "+ev.RemoteAddr)
	}
	want := []string{"user:alice user.signout 192.0.2.1:1234", "user:alice user.signin 192.0.2.1:1234", "cli:test user.add "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit trail %q, want %q", got, want)
	}
}

// TestSignInFailuresLookAlike checks that an unknown name, a wrong password and a
// disabled account get the same answer, and that each costs one password check with the
// same parameters (so the same time).
func TestSignInFailuresLookAlike(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("alice", store.RoleAdmin)
	e.addUser("bob", store.RoleViewer)
	if _, err := e.st.SetUserDisabled(context.Background(), "bob", true, time.Now(), store.Audit{Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var checked []string
	e.u.access.Sessions.Verify = func(pw, hash string) (bool, error) {
		mu.Lock()
		// The parameters: everything up to the salt.
		checked = append(checked, hash[:strings.LastIndexByte(hash[:strings.LastIndexByte(hash, '$')], '$')])
		mu.Unlock()
		return password.Verify(pw, hash)
	}
	var answers []string
	for _, c := range []struct{ name, pw string }{
		{"alice", "wrong"},
		{"nobody", "wrong"},
		{"nobody", testPassword},
		{"bob", testPassword},
		{strings.Repeat("x", 10000), "wrong"},
	} {
		b := e.browser()
		p := b.post("/signin", url.Values{"name": {c.name}, "password": {c.pw}})
		wantStatus(t, p, http.StatusUnprocessableEntity)
		if b.cookie != nil {
			t.Errorf("%s got a cookie", c.name)
		}
		answers = append(answers, p.text("[data-testid=signin-error]"))
	}
	for _, a := range answers {
		if a != wrongCredentials {
			t.Errorf("answer %q, want %q for every failure", a, wrongCredentials)
		}
	}
	if len(checked) != 5 {
		t.Fatalf("%d password checks for 5 failures", len(checked))
	}
	for _, c := range checked {
		if c != checked[0] {
			t.Errorf("password checks with different parameters: %q", checked)
		}
	}
}

func TestSignInRateLimits(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("alice", store.RoleAdmin)
	e.u.access.Sessions.Verify = func(pw, hash string) (bool, error) {
		return pw == testPassword && !strings.Contains(hash, "dummy"), nil
	}
	fail := func(b *browser, name string) authPage {
		return b.post("/signin", url.Values{"name": {name}, "password": {"wrong"}})
	}
	// Per account and address: the right password is refused too from that address,
	// until time passes; from another address alice signs in.
	attacker := e.browser()
	attacker.remote = "198.51.100.66:1"
	for range access.AccountFailures {
		wantStatus(t, fail(attacker, "alice"), http.StatusUnprocessableEntity)
	}
	p := attacker.post("/signin", url.Values{"name": {"alice"}, "password": {testPassword}})
	wantStatus(t, p, http.StatusTooManyRequests)
	if p.header.Get("Retry-After") == "" || !strings.Contains(p.text("[data-testid=signin-error]"), "Too many failed sign-ins") {
		t.Errorf("rate-limited answer: %v %q", p.header, p.text("[data-testid=signin-error]"))
	}
	known := e.browser()
	known.remote = "203.0.113.9:1"
	known.signIn("alice") // and gets a device cookie
	if known.device == nil {
		t.Fatal("no device cookie after a sign-in")
	}
	// An unknown name is limited the same way.
	for range access.AccountFailures {
		wantStatus(t, fail(e.browser(), "nobody"), http.StatusUnprocessableEntity)
	}
	wantStatus(t, fail(e.browser(), "nobody"), http.StatusTooManyRequests)

	// Per name alone, from many addresses: a looser ceiling. Past it a new browser is
	// refused, but the browser that signed in to alice before is not.
	for i := range access.NameFailures - access.AccountFailures { // the attacker's failures count too
		b := e.browser()
		b.remote = fmt.Sprintf("198.51.%d.%d:1", 1+i/200, 1+i%200)
		wantStatus(t, fail(b, "alice"), http.StatusUnprocessableEntity)
	}
	stranger := e.browser()
	stranger.remote = "192.0.2.99:1"
	wantStatus(t, stranger.post("/signin", url.Values{"name": {"alice"}, "password": {testPassword}}), http.StatusTooManyRequests)
	known.cookie = nil // signed out, the device cookie kept
	known.signIn("alice")
	// A device cookie for another name, or forged, does not exempt.
	forged := e.browser()
	forged.remote = "192.0.2.98:1"
	forged.device = &http.Cookie{Name: "tagdrift_device", Value: known.device.Value[:len(known.device.Value)-2] + "xx"}
	wantStatus(t, forged.post("/signin", url.Values{"name": {"alice"}, "password": {testPassword}}), http.StatusTooManyRequests)
	e.clock.Add(access.AccountFailureEvery + access.NameFailureEvery*access.NameFailures)
	b := e.browser()
	b.signIn("alice")

	// Per address, whatever the names; an IPv6 /64 is one address.
	for i := range access.AddressFailures {
		b := e.browser()
		b.remote = "[2001:db8:1:2::" + string(rune('a'+i%6)) + "]:1"
		wantStatus(t, fail(b, "user"+string(rune('a'+i))), http.StatusUnprocessableEntity)
	}
	b = e.browser()
	b.remote = "[2001:db8:1:2:ffff::1]:1"
	wantStatus(t, fail(b, "someone-new"), http.StatusTooManyRequests)
	b.remote = "[2001:db8:1:3::1]:1"
	wantStatus(t, fail(b, "someone-new"), http.StatusUnprocessableEntity)
}

func TestSessionTimeoutsAndFixation(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, func(c *testConfig) { c.SessionIdle = time.Hour; c.SessionAbsolute = 3 * time.Hour })
	e.addUser("alice", store.RoleAdmin)
	b := e.browser()
	b.signIn("alice")
	first := b.cookie

	// A new id at every sign-in; the one held before ends.
	b.signIn("alice")
	if b.cookie.Value == first.Value {
		t.Fatal("signing in again kept the session id")
	}
	planted := &browser{e: e, cookie: first}
	if p := planted.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("the session before sign-in still works: %d", p.status)
	}

	// Used every 50 minutes, it lives until the absolute timeout.
	for range 3 {
		e.clock.Add(50 * time.Minute)
		wantStatus(t, b.get("/"), http.StatusOK)
	}
	e.clock.Add(31 * time.Minute)
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("past the absolute timeout: %d", p.status)
	}
	b.signIn("alice")
	e.clock.Add(time.Hour)
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("past the idle timeout: %d", p.status)
	}
	// A post without a session is refused, not redirected.
	wantStatus(t, b.post("/admin/tokens", url.Values{"name": {"x"}}), http.StatusUnauthorized)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("alice", store.RoleAdmin)
	srv := httptest.NewUnstartedServer(e.h)
	srv.StartTLS()
	defer srv.Close()
	cli := srv.Client()
	cli.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	nonces := map[string]bool{}
	for _, path := range []string{"/signin", "/", "/static/style.css", "/no-such-authPage"} {
		res, err := cli.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		if path != "/no-such-authPage" {
			for _, part := range []string{"default-src 'none'", "frame-ancestors 'none'", "script-src 'nonce-", "form-action 'self'", "base-uri 'none'"} {
				if !strings.Contains(csp, part) {
					t.Errorf("%s: CSP %q lacks %q", path, csp, part)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s: CSP %q allows inline code", path, csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" ||
				h.Get("Strict-Transport-Security") == "" {
				t.Errorf("%s: headers %v", path, h)
			}
		}
		if path == "/signin" {
			doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				n, _ := s.Attr("nonce")
				if n == "" || !strings.Contains(csp, "'nonce-"+n+"'") {
					t.Errorf("script without the CSP's nonce: %q vs %q", n, csp)
				}
				nonces[n] = true
			})
		}
	}
	// A fresh nonce per request.
	for range 2 {
		res, err := cli.Get(srv.URL + "/signin")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		n := csp[strings.Index(csp, "'nonce-")+7:]
		n = n[:strings.IndexByte(n, '\'')]
		if nonces[n] {
			t.Errorf("nonce %q used twice", n)
		}
		nonces[n] = true
	}
	// No HSTS over plain http.
	p := e.browser().get("/signin")
	if p.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain http")
	}
}

func TestCrossSiteFormsRefused(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("alice", store.RoleAdmin)
	b := e.browser()
	b.signIn("alice")
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example", "Sec-Fetch-Site": ""},
	} {
		p := b.do(http.MethodPost, "/signout", url.Values{}, hdr)
		wantStatus(t, p, http.StatusForbidden)
		if p.header.Get("Content-Security-Policy") == "" {
			t.Error("the refusal page lacks the security headers")
		}
		// A cross-site sign-in (login CSRF) is refused too.
		p = b.do(http.MethodPost, "/signin", url.Values{"name": {"alice"}, "password": {testPassword}}, hdr)
		wantStatus(t, p, http.StatusForbidden)
	}
	wantStatus(t, b.get("/"), http.StatusOK)
	// Same origin works.
	p := b.do(http.MethodPost, "/signout", url.Values{}, map[string]string{"Origin": "http://tagdrift.example", "Sec-Fetch-Site": ""})
	wantStatus(t, p, http.StatusSeeOther)
}
