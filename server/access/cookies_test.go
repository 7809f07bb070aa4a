package access

import (
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecideCookies: the session cookie follows the configuration alone.
func TestDecideCookies(t *testing.T) {
	for _, tc := range []struct {
		external string
		insecure bool
		listen   string
		plain    bool
		https    bool
		err      string
	}{
		// An https public URL: Secure, __Host-, HSTS, whatever the listener.
		{external: "https://tagdrift.example.com", listen: ":8080", https: true},
		{external: "https://tagdrift.example.com", listen: "127.0.0.1:8080", https: true},
		{external: "https://tagdrift.example.com/", listen: "[::1]:8080", https: true},
		{external: "https://tagdrift.example.com", insecure: true, listen: ":8080", err: "contradicts an https --external-url"},
		// Plain only when asked for...
		{insecure: true, listen: ":8080", plain: true},
		{insecure: true, listen: "0.0.0.0:8080", plain: true},
		{external: "http://localhost:8080", insecure: true, listen: ":8080", plain: true},
		// ...and an http public URL without asking is refused: browsers would drop the
		// Secure cookie (Safari even on localhost).
		{external: "http://localhost:8080", listen: ":8080", err: "--insecure-cookies"},
		{external: "http://tagdrift.internal", listen: "127.0.0.1:8080", err: "--insecure-cookies"},
		{external: "tagdrift.example.com", listen: ":8080", err: "absolute http or https URL"},
		// ...or on a loopback listener with no public URL.
		{listen: "127.0.0.1:8080", plain: true},
		{listen: "127.0.0.1:0", plain: true},
		{listen: "127.8.9.10:8080", plain: true},
		{listen: "[::1]:8080", plain: true},
		{listen: "localhost:8080", plain: true},
		{listen: "LOCALHOST:8080", plain: true},
		// Every other listener is reached from elsewhere: Secure.
		{listen: ":8080"},
		{listen: "0.0.0.0:8080"},
		{listen: "[::]:8080"},
		{listen: "10.0.0.5:8080"},
		{listen: "tagdrift.internal:8080"},
		{listen: "localhost.evil.example:8080"},
		{listen: "not an address"},
		{listen: ""},
	} {
		name := tc.external + " " + tc.listen
		if tc.insecure {
			name += " --insecure-cookies"
		}
		c, err := DecideCookies(tc.external, tc.insecure, tc.listen)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Plain != tc.plain || c.HTTPS != tc.https || c.Why == "" {
			t.Errorf("%s: %+v, want plain %t https %t and a reason", name, c, tc.plain, tc.https)
		}
		wantName := "__Host-tagdrift_session"
		if tc.plain {
			wantName = "tagdrift_session"
		}
		if c.Name() != wantName {
			t.Errorf("%s: cookie name %s, want %s", name, c.Name(), wantName)
		}
	}
}

// TestCookiesIgnoreTheRequest: no header changes the cookie, the HSTS header or the
// plain-http warning; only the connection's own TLS adds HSTS.
func TestCookiesIgnoreTheRequest(t *testing.T) {
	forged := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "127.0.0.1", "Forwarded": "proto=https;host=localhost"}
	for _, c := range []Cookies{{}, {Plain: true}, {HTTPS: true}} {
		plain := httptest.NewRequest("GET", "http://tagdrift.example/signin", nil)
		loop := httptest.NewRequest("GET", "http://127.0.0.1:8080/signin", nil)
		loop.RemoteAddr = "127.0.0.1:5555"
		for k, v := range forged {
			loop.Header.Set(k, v)
		}
		for _, r := range []*httptest.ResponseRecorder{httptest.NewRecorder(), httptest.NewRecorder()} {
			s := &Sessions{Cookies: c}
			s.SetSessionCookie(r, "id")
			got := r.Result().Cookies()[0]
			if got.Name != c.Name() || got.Secure == c.Plain || !got.HttpOnly {
				t.Errorf("%+v: cookie %+v", c, got)
			}
		}
		if c.HSTS(plain) != c.HSTS(loop) || c.WarnPlainHTTP(plain) != c.WarnPlainHTTP(loop) {
			t.Errorf("%+v: forged headers changed HSTS or the warning", c)
		}
		if c.HSTS(plain) != c.HTTPS || c.WarnPlainHTTP(plain) != (!c.Plain && !c.HTTPS) {
			t.Errorf("%+v: HSTS %t, warning %t", c, c.HSTS(plain), c.WarnPlainHTTP(plain))
		}
		plain.TLS = &tls.ConnectionState{}
		if !c.HSTS(plain) || c.WarnPlainHTTP(plain) {
			t.Errorf("%+v over TLS: HSTS %t, warning %t", c, c.HSTS(plain), c.WarnPlainHTTP(plain))
		}
	}
}
