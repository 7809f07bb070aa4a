package ui

import (
	"net/http"
	"testing"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/store"
)

// TestCookieFromConfiguration: the session cookie, HSTS and the sign-in page's
// plain-http warning follow the configuration (access.DecideCookies), whatever the
// request's Host, address or X-Forwarded-Proto say.
func TestCookieFromConfiguration(t *testing.T) {
	t.Parallel()
	forged := []struct {
		remote, host string
		hdr          map[string]string
	}{
		{"192.0.2.1:1234", "tagdrift.example", nil},
		// A TLS proxy that forwards a loopback Host (the case).
		{"127.0.0.1:5555", "127.0.0.1:8080", map[string]string{"X-Forwarded-Proto": "https"}},
		{"127.0.0.1:5555", "localhost", map[string]string{"X-Forwarded-Proto": "http"}},
		{"192.0.2.1:1234", "tagdrift.example", map[string]string{"X-Forwarded-Proto": "https", "Forwarded": "proto=https"}},
	}
	for _, tc := range []struct {
		name    string
		cookies access.Cookies
		cookie  string
		secure  bool
		hsts    bool
		warn    bool
	}{
		{"secure by default", access.Cookies{}, "__Host-tagdrift_session", true, false, true},
		{"https external URL", access.Cookies{HTTPS: true}, "__Host-tagdrift_session", true, true, false},
		{"plain", access.Cookies{Plain: true}, "tagdrift_session", false, false, false},
	} {
		e := newUIEnv(t, func(c *testConfig) { c.Config.Cookies = tc.cookies })
		e.addUser("alice", store.RoleAdmin)
		for _, f := range forged {
			b := e.browser()
			b.remote, b.host = f.remote, f.host
			p := b.do(http.MethodGet, "/signin", nil, f.hdr)
			if warned := p.find("[data-testid=signin-insecure]").Length() != 0; warned != tc.warn {
				t.Errorf("%s, %+v: warning shown %t", tc.name, f, warned)
			}
			if hsts := p.header.Get("Strict-Transport-Security") != ""; hsts != tc.hsts {
				t.Errorf("%s, %+v: HSTS %t", tc.name, f, hsts)
			}
			b.signIn("alice")
			if c := b.cookie; c.Name != tc.cookie || c.Secure != tc.secure || !c.HttpOnly || c.Path != "/" {
				t.Errorf("%s, %+v: cookie %+v", tc.name, f, c)
			}
			// The cookie works from any address, and only its own name is read.
			b.remote = "198.51.100.7:1"
			wantStatus(t, b.get("/"), http.StatusOK)
			other := *b.cookie
			other.Name = map[bool]string{true: "tagdrift_session", false: "__Host-tagdrift_session"}[tc.secure]
			b.cookie = &other
			if p := b.get("/"); p.status != http.StatusSeeOther {
				t.Errorf("%s: the cookie under the other name %s is read: %d", tc.name, other.Name, p.status)
			}
		}
	}
}
