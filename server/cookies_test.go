package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// TestSessionCookieIgnoresForgedHeaders signs in over real HTTP to the service's router
// on a loopback listener, the cookie decided as serve decides it (access.DecideCookies
// from --external-url, --insecure-cookies and --listen), with a forged Host and
// X-Forwarded-Proto: the cookie is what the configuration says, never what the headers
// suggest.
func TestSessionCookieIgnoresForgedHeaders(t *testing.T) {
	st, _ := storetest.New(t, "tagdrift_cookies")
	hash, err := password.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser(context.Background(), store.NewUser{Name: "alice", Role: store.RoleAdmin, PasswordHash: hash}, store.Audit{Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	forged := []map[string]string{
		{"Host": "127.0.0.1:8080", "X-Forwarded-Proto": "http"},
		{"Host": "localhost", "X-Forwarded-Proto": "http"},
		{"Host": "tagdrift.example.com", "X-Forwarded-Proto": "https"},
	}
	for _, tc := range []struct {
		external string
		insecure bool
		listen   string // "" for the test server's own loopback address
		cookie   string
		secure   bool
	}{
		{listen: "", cookie: "tagdrift_session"}, // loopback, no external URL
		{listen: ":8080", cookie: "__Host-tagdrift_session", secure: true},
		{external: "https://tagdrift.example.com", cookie: "__Host-tagdrift_session", secure: true},
		{external: "http://localhost:8080", insecure: true, listen: ":8080", cookie: "tagdrift_session"},
	} {
		srv := httptest.NewUnstartedServer(nil)
		listen := tc.listen
		if listen == "" {
			listen = srv.Listener.Addr().String()
		}
		cookies, err := access.DecideCookies(tc.external, tc.insecure, listen)
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = New(Config{Store: st, Cookies: cookies, RateLimit: 1000, RateBurst: 1000})
		srv.Start()
		client := srv.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, hdr := range forged {
			form := url.Values{"name": {"alice"}, "password": {"correct horse battery staple"}, "next": {"/"}}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/signin", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			req.Host = hdr["Host"]
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			// The session cookie, and the device cookie (path /signin) beside it, each as
			// decided at start.
			var cs []*http.Cookie
			for _, c := range res.Cookies() {
				if c.Path == "/signin" {
					if c.Secure != tc.secure {
						t.Errorf("%+v %v: device cookie secure %t, want %t", tc, hdr, c.Secure, tc.secure)
					}
					continue
				}
				cs = append(cs, c)
			}
			if res.StatusCode != http.StatusSeeOther || len(cs) != 1 {
				t.Fatalf("%+v %v: sign-in %d, cookies %v", tc, hdr, res.StatusCode, cs)
			}
			if c := cs[0]; c.Name != tc.cookie || c.Secure != tc.secure {
				t.Errorf("external %q listen %q insecure %t, headers %v: cookie %s secure %t, want %s secure %t",
					tc.external, listen, tc.insecure, hdr, c.Name, c.Secure, tc.cookie, tc.secure)
			}
		}
		srv.Close()
	}
}
