package access

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// Defaults of the session timeouts (Config.SessionIdle, Config.SessionAbsolute).
const (
	defaultSessionIdle     = 12 * time.Hour
	defaultSessionAbsolute = 7 * 24 * time.Hour
)

// Failed sign-ins allowed at once, and how fast they come back: per account name as
// typed (whether or not the account exists), and per address (an IPv4 address or an
// IPv6 /64). A refused attempt is answered before any database work.
//
// The strict limit per name is kept per client (name and address together), so that
// nobody can lock a known user out from elsewhere; a looser ceiling per name alone
// (NameFailures) bounds guessing from many addresses, and a browser holding a device
// cookie for that name (it signed in to it before) is exempt from the ceiling.
const (
	AccountFailures     = 10
	AccountFailureEvery = 30 * time.Second
	NameFailures        = 100
	NameFailureEvery    = 10 * time.Second
	AddressFailures     = 30
	AddressFailureEvery = 5 * time.Second
	// concurrentVerifies bounds the password checks run at once: each takes 64 MiB.
	concurrentVerifies = 4
)

// Sessions is the web UI's sign-in state: timeouts, failed-attempt limits and the
// password check.
type Sessions struct {
	Timeouts store.SessionTimeouts
	// Accounts limits failed sign-ins per typed name and client address (AccountKey),
	// Names per typed name alone (the looser ceiling a device cookie skips), Addresses
	// per client address.
	Accounts  *Limiter
	Names     *Limiter
	Addresses *Limiter
	// deviceKeys check device cookies, the first signs them: from the key ring, so
	// that a restart or another replica knows the same browsers (Config.DeviceKeys).
	deviceKeys [][]byte
	verifies  chan struct{}
	// Verify checks a password against a hash; password.Verify, but tests watch it.
	Verify func(pw, hash string) (bool, error)
	// Cookies is how the session cookie is sent (DecideCookies).
	Cookies Cookies
	// dummyHash is checked when the user is unknown, so that an unknown name costs the
	// same time as a wrong password. Made on the first sign-in.
	dummyHash func() (string, error)
}

func newSessions(idle, absolute time.Duration, cookies Cookies, deviceKeys [][]byte) *Sessions {
	if len(deviceKeys) == 0 {
		deviceKeys = [][]byte{randomKey()}
	}
	return &Sessions{
		Cookies: cookies,
		Timeouts: store.SessionTimeouts{
			Idle:     cmpOrDuration(idle, defaultSessionIdle),
			Absolute: cmpOrDuration(absolute, defaultSessionAbsolute),
		},
		Accounts:  NewLimiter(rate.Every(AccountFailureEvery), AccountFailures, maxLimitedKeys),
		Names:     NewLimiter(rate.Every(NameFailureEvery), NameFailures, maxLimitedKeys),
		deviceKeys: deviceKeys,
		Addresses: NewLimiter(rate.Every(AddressFailureEvery), AddressFailures, maxLimitedKeys),
		verifies:  make(chan struct{}, concurrentVerifies),
		Verify:    password.Verify,
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

// DummyHash is the hash an unknown user's password is checked against.
func (s *Sessions) DummyHash() (string, error) { return s.dummyHash() }

// CheckPassword verifies pw against hash, at most concurrentVerifies at once.
func (s *Sessions) CheckPassword(ctx context.Context, pw, hash string) (bool, error) {
	select {
	case s.verifies <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.verifies }()
	return s.Verify(pw, hash)
}

// HashPassword hashes a password an admin sets, under the same bound as the checks.
func (s *Sessions) HashPassword(ctx context.Context, pw string) (string, error) {
	select {
	case s.verifies <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.verifies }()
	return password.Hash(pw)
}

type sessionKey struct{}

// WithSession is ctx carrying s, for SessionOf.
func WithSession(ctx context.Context, s *store.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionOf is the session of a request let through with a cookie; nil for one
// authenticated otherwise (a bearer token).
func SessionOf(ctx context.Context) *store.Session {
	s, _ := ctx.Value(sessionKey{}).(*store.Session)
	return s
}

// Session is the live session r's cookie names, or nil.
func (g *Gate) Session(r *http.Request) (*store.Session, error) {
	id := g.Sessions.SessionID(r)
	if id == "" {
		return nil, nil
	}
	release, err := g.lookups.Acquire(r.Context())
	if err != nil {
		return nil, err
	}
	s, err := g.st.Session(r.Context(), id, g.now(), g.Sessions.Timeouts)
	release()
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, request.About(err, "session")
	}
	return &s, nil
}

// SafeNext is where to go after signing in: a path on this site, never another site
// ("//evil.example", "/\\evil.example", "https://…"); "/" when next is anything else.
func SafeNext(next string) string {
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
