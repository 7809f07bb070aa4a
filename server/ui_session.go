package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// Session cookies. Over TLS (or behind a proxy: anything but plain http on loopback) the
// cookie is Secure and __Host- prefixed, so that no other host or subdomain can set or
// read it. A browser drops Secure cookies that come over plain http, so for local use on
// a loopback address over plain http the cookie is not Secure, and cannot carry the
// __Host- prefix either: it is named tagdrift_session there. Each mode reads only its own
// name.
const (
	sessionCookie      = "__Host-tagdrift_session"
	localSessionCookie = "tagdrift_session"
)

// Defaults of the session timeouts (Config.SessionIdle, Config.SessionAbsolute).
const (
	defaultSessionIdle     = 12 * time.Hour
	defaultSessionAbsolute = 7 * 24 * time.Hour
)

// Failed sign-ins allowed at once, and how fast they come back: per account name as
// typed (whether or not the account exists), and per address (an IPv4 address or an
// IPv6 /64). A refused attempt is answered before any database work.
const (
	accountFailures     = 10
	accountFailureEvery = 30 * time.Second
	addressFailures     = 30
	addressFailureEvery = 5 * time.Second
	maxLimitedKeys      = 100000
	// concurrentVerifies bounds the password checks run at once: each takes 64 MiB.
	concurrentVerifies = 4
)

// sessions is the web UI's sign-in state: timeouts, failed-attempt limits and the
// password check.
type sessions struct {
	timeouts  store.SessionTimeouts
	accounts  *attempts
	addresses *attempts
	verifies  chan struct{}
	// verify checks a password against a hash; password.Verify, but tests watch it.
	verify func(pw, hash string) (bool, error)
	// dummyHash is checked when the user is unknown, so that an unknown name costs the
	// same time as a wrong password. Made on the first sign-in.
	dummyHash func() (string, error)
}

func newSessions(cfg Config) *sessions {
	return &sessions{
		timeouts: store.SessionTimeouts{
			Idle:     cmpOrDuration(cfg.SessionIdle, defaultSessionIdle),
			Absolute: cmpOrDuration(cfg.SessionAbsolute, defaultSessionAbsolute),
		},
		accounts:  newAttempts(accountFailures, accountFailureEvery, maxLimitedKeys),
		addresses: newAttempts(addressFailures, addressFailureEvery, maxLimitedKeys),
		verifies:  make(chan struct{}, concurrentVerifies),
		verify:    password.Verify,
		dummyHash: sync.OnceValues(func() (string, error) {
			// A password nobody knows: hashed with the same parameters as real ones.
			return password.Hash(time.Now().String() + "\x00tagdrift dummy")
		}),
	}
}

func cmpOrDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkPassword verifies pw against hash, at most concurrentVerifies at once.
func (s *sessions) checkPassword(ctx context.Context, pw, hash string) (bool, error) {
	select {
	case s.verifies <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.verifies }()
	return s.verify(pw, hash)
}

// localPlainHTTP reports whether r came over plain http to and from a loopback address:
// the one case where the session cookie is not Secure.
func localPlainHTTP(r *http.Request) bool {
	if r.TLS != nil {
		return false
	}
	return isLoopbackHost(r.RemoteAddr) && isLoopbackHost(r.Host)
}

// isLoopbackHost reports whether host[:port] names the loopback interface.
func isLoopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cookieName is the session cookie's name for r's mode.
func cookieName(r *http.Request) string {
	if localPlainHTTP(r) {
		return localSessionCookie
	}
	return sessionCookie
}

// setSessionCookie sends the session id; the cookie lives no longer than the session.
func (u *ui) setSessionCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: id, Path: "/",
		MaxAge:   int(u.sess.timeouts.Absolute / time.Second),
		Secure:   !localPlainHTTP(r),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookie tells the browser to forget the session cookie.
func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: "", Path: "/", MaxAge: -1,
		Secure: !localPlainHTTP(r), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// sessionID is the session id r's cookie carries; "" for none.
func sessionID(r *http.Request) string {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

type sessionKey struct{}

// sessionOf is the session of a request requireSession let through with a cookie; nil
// for one authenticated otherwise (a bearer token).
func sessionOf(ctx context.Context) *store.Session {
	s, _ := ctx.Value(sessionKey{}).(*store.Session)
	return s
}

// currentSession is the live session r's cookie names, or nil.
func (u *ui) currentSession(r *http.Request) (*store.Session, error) {
	id := sessionID(r)
	if id == "" {
		return nil, nil
	}
	release, err := u.api.lookups.acquire(r.Context())
	if err != nil {
		return nil, err
	}
	s, err := u.st.Session(r.Context(), id, u.now(), u.sess.timeouts)
	release()
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, about(err, "session")
	}
	return &s, nil
}

// userPrincipal is who a signed-in user is, for the audit trail and the role checks.
func userPrincipal(u store.User) principal {
	return principal{actor: "user:" + u.Name, role: u.Role, limiterKey: "user:" + u.Name}
}

// requireSession lets a page through only for a signed-in user (a session cookie) or an
// API token (a bearer header, which browsers never send by themselves, so it needs no
// cross-site protection), and puts the principal in the request's context (principalOf),
// so pages know the role. Anyone else is sent to the sign-in page, and comes back to
// where they were going after it.
func (u *ui) requireSession(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		sess, err := u.currentSession(r)
		if err != nil {
			return err
		}
		var p principal
		ctx := r.Context()
		switch {
		case sess != nil:
			p = userPrincipal(sess.User)
			ctx = context.WithValue(ctx, sessionKey{}, sess)
		case r.Header.Get("Authorization") != "":
			if p, err = u.api.principal(r); err != nil {
				return err
			}
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil
		default:
			return newHTTPError(http.StatusUnauthorized, "your session has ended: sign in again, then repeat what you did")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, principalKey{}, p)))
		return nil
	})
}

// requireAdminUI lets only admins through; a viewer gets a 403 page even for an action
// the page never offered them.
func (u *ui) requireAdminUI(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		if principalOf(r.Context()).role != store.RoleAdmin {
			return newHTTPError(http.StatusForbidden, "this needs the admin role")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// safeNext is where to go after signing in: a path on this site, never another site
// ("//evil.example", "/\\evil.example", "https://…"); "/" when next is anything else.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\\\r\n\t\x00") || strings.HasPrefix(next, "/signin") || strings.HasPrefix(next, "/signout") {
		return "/"
	}
	p, err := url.Parse(next)
	if err != nil || p.Scheme != "" || p.Host != "" || p.User != nil {
		return "/"
	}
	return next
}

// hashPassword hashes a password an admin sets, under the same bound as the checks.
func (s *sessions) hashPassword(ctx context.Context, pw string) (string, error) {
	select {
	case s.verifies <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.verifies }()
	return password.Hash(pw)
}
