package access

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Session cookies. A Secure cookie is named with the __Host- prefix, so that no other
// host or subdomain can set or read it; a plain one (for plain http, where a browser
// drops a Secure cookie) cannot carry the prefix and is named tagdrift_session. Which
// one is decided once, at start, from the configuration (DecideCookies), never from a
// request: its Host header and X-Forwarded-Proto are the client's to choose.
const (
	sessionCookie      = "__Host-tagdrift_session"
	localSessionCookie = "tagdrift_session"
)

// Cookies is how the session cookie is sent, the same for every request.
type Cookies struct {
	// Plain sends the cookie without Secure (and so without the __Host- prefix). The
	// zero value, Secure, is the safe one.
	Plain bool
	// HTTPS says the service's public URL is https (--external-url): every page then
	// carries Strict-Transport-Security, and the sign-in page never warns of plain http.
	HTTPS bool
	// Why says what decided, for the start log.
	Why string
}

// DecideCookies decides the session cookie from the configuration alone:
//
//   - an https externalURL: Secure, __Host-, HSTS (insecure contradicts it: an error);
//   - insecure (--insecure-cookies): plain, whatever else is set;
//   - an http externalURL otherwise: an error, since browsers drop a Secure cookie over
//     plain http (Safari even on localhost), and a plain one must be asked for;
//   - no externalURL: plain when listen is a loopback address (127.0.0.1:8080,
//     [::1]:8080, localhost:8080: only this machine's browser reaches it, over plain
//     http), Secure otherwise (":8080" is reached from elsewhere, through a TLS proxy
//     or not).
func DecideCookies(externalURL string, insecure bool, listen string) (Cookies, error) {
	if externalURL != "" {
		u, err := url.Parse(externalURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Cookies{}, errors.New("--external-url must be an absolute http or https URL")
		}
		switch {
		case u.Scheme == "https" && insecure:
			return Cookies{}, errors.New("--insecure-cookies contradicts an https --external-url: browsers reach tagdrift over TLS, so its cookie is Secure")
		case u.Scheme == "https":
			return Cookies{HTTPS: true, Why: "--external-url is https"}, nil
		case insecure:
			return Cookies{Plain: true, Why: "--insecure-cookies"}, nil
		default:
			return Cookies{}, errors.New("--external-url is plain http, where browsers drop the Secure session cookie: give its https URL, or --insecure-cookies to send a plain one")
		}
	}
	if insecure {
		return Cookies{Plain: true, Why: "--insecure-cookies"}, nil
	}
	if loopbackListener(listen) {
		return Cookies{Plain: true, Why: "loopback --listen and no --external-url"}, nil
	}
	return Cookies{Why: "--listen is not loopback and no --external-url says otherwise"}, nil
}

// loopbackListener reports whether listen (host:port) listens on loopback only: an
// empty host, as in ":8080", listens on every interface.
func loopbackListener(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name is the session cookie's name.
func (c Cookies) Name() string {
	if c.Plain {
		return localSessionCookie
	}
	return sessionCookie
}

// HSTS reports whether r's answer carries Strict-Transport-Security: the public URL is
// https, or r itself came over TLS (a connection's state, not a header).
func (c Cookies) HSTS(r *http.Request) bool { return c.HTTPS || r.TLS != nil }

// WarnPlainHTTP reports whether the sign-in page should warn that its cookie will be
// dropped: it is Secure, no https public URL is configured, and r did not come over
// TLS. Behind a TLS proxy without --external-url it warns too, and says to set it.
func (c Cookies) WarnPlainHTTP(r *http.Request) bool { return !c.Plain && !c.HTTPS && r.TLS == nil }

func (c Cookies) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: c.Name(), Value: value, Path: "/", MaxAge: maxAge,
		Secure: !c.Plain, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
}

// SetSessionCookie sends the session id; the cookie lives no longer than the session.
func (s *Sessions) SetSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, s.Cookies.cookie(id, int(s.Timeouts.Absolute/time.Second)))
}

// ClearSessionCookie tells the browser to forget the session cookie.
func (s *Sessions) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, s.Cookies.cookie("", -1))
}

// SessionID is the session id r's cookie carries; "" for none. Only the cookie of the
// configured name counts.
func (s *Sessions) SessionID(r *http.Request) string {
	c, err := r.Cookie(s.Cookies.Name())
	if err != nil {
		return ""
	}
	return c.Value
}
