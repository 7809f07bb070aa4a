// Package access says who makes a request and how much they may: API bearer tokens
// (the admin token of TAGDRIFT_ADMIN_TOKEN and the stored ones), the web UI's users and
// their sessions and sign-in, the principal each request carries for the role checks
// and the audit trail, and the one rate limiter (Limiter) behind the per-token request
// rate and the failed-attempt limits per address and per account name. The router
// makes one Gate and hands it to the API (server/api) and the UI (server/ui); both
// answer its errors (*request.Error) in their own way. Subpackage password hashes the
// users' passwords.
package access

import (
	"cmp"
	"context"
	"crypto/sha256"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/tagdrift/tagdrift/store"
)

// Config is what the gate needs; zero values take the defaults.
type Config struct {
	Store *store.Store
	// AdminToken, when not empty, is accepted as an admin bearer token; it is compared
	// in constant time and never logged.
	AdminToken string
	// RateLimit is the requests per second each token may make on average; default 50.
	RateLimit float64
	// RateBurst is how many requests a token may make at once; default 100.
	RateBurst int
	// FailedAuthBurst is how many requests with an unknown token one address may make
	// at once before it gets 429; then one a second. Default 20.
	FailedAuthBurst int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client
	// (--trusted-proxy); none by default: the client is the connection's peer.
	TrustedProxies TrustedProxies
	// AuthLookups bounds the credential look-ups (API tokens, session cookies, sign-in
	// names) run at once, from all addresses together; a request that waits 2 s for one
	// gets 503. Default a quarter of the store's pool, at most 4.
	AuthLookups int
	// SessionIdle ends a web UI session unused for this long; default 12 h.
	SessionIdle time.Duration
	// SessionAbsolute ends a web UI session this long after sign-in; default 7 days.
	SessionAbsolute time.Duration
	// Cookies is how the session cookie is sent, decided at start (DecideCookies); the
	// zero value is Secure.
	Cookies Cookies
	// DeviceKeys sign device cookies (the first) and check them (any): the key ring's
	// keys derived for DevicePurpose, so that a browser stays known across restarts
	// and replicas. None: a random key of this process's own.
	DeviceKeys [][]byte
	Now     func() time.Time
	Logger  *slog.Logger
}

// Gate authenticates requests and limits them. Safe for concurrent use.
type Gate struct {
	st        *store.Store
	now       func() time.Time
	log       *slog.Logger
	adminHash []byte // SHA-256 of the admin token; nil when there is none
	proxies   TrustedProxies
	// recent are the bearer secrets recently seen valid: they skip badTokens.
	recent *recentTokens
	// requests limits each principal's request rate.
	requests *Limiter
	// badTokens limits failed token look-ups per client address, before the database is
	// asked, so that a flood of bad tokens cannot take the pool the scans share.
	badTokens *Limiter
	// lookups bounds the token, session and sign-in look-ups of all addresses together.
	lookups *lookups
	touches touches
	// Sessions is the web UI's sign-in state.
	Sessions *Sessions
}

// badTokenFailureEvery refills an address's failed token look-ups (Config.FailedAuthBurst
// at once): a client with a valid token is never slowed by them; one that retries a
// revoked token is.
const badTokenFailureEvery = time.Second

// maxLimitedKeys bounds the keys of each failed-attempt limit (addresses, names).
const maxLimitedKeys = 100000

// New makes the gate of cfg.
func New(cfg Config) *Gate {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 50
	}
	cfg.RateBurst = cmp.Or(max(cfg.RateBurst, 0), 100)
	cfg.FailedAuthBurst = cmp.Or(max(cfg.FailedAuthBurst, 0), 20)
	if cfg.AuthLookups <= 0 && cfg.Store != nil {
		cfg.AuthLookups = defaultLookups(int(cfg.Store.Pool().Config().MaxConns))
	}
	g := &Gate{
		st: cfg.Store, now: cfg.Now, log: cfg.Logger, proxies: cfg.TrustedProxies,
		recent:    newRecentTokens(maxRecentTokens),
		requests:  NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst, 0),
		badTokens: NewLimiter(rate.Every(badTokenFailureEvery), cfg.FailedAuthBurst, maxLimitedKeys),
		lookups:   newLookups(cfg.AuthLookups, LookupWait),
		Sessions:  newSessions(cfg.SessionIdle, cfg.SessionAbsolute, cfg.Cookies, cfg.DeviceKeys),
	}
	if cfg.AdminToken != "" {
		sum := sha256.Sum256([]byte(cfg.AdminToken))
		g.adminHash = sum[:]
	}
	return g
}

// Lookup waits for a credential look-up slot (lookups.Acquire); the function it returns
// frees it.
func (g *Gate) Lookup(ctx context.Context) (func(), error) { return g.lookups.Acquire(ctx) }
