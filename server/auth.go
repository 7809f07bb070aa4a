package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tagdrift/tagdrift/store"
)

// principal is who makes an API request.
type principal struct {
	// actor names it in the audit trail: "token:<id>:<name>" (names are not unique),
	// "admin-token" or "user:<name>".
	actor string
	role  string
	// limiterKey picks its rate limiter: one per token id, one for the admin token.
	limiterKey string
}

type principalKey struct{}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// audit is who makes a change and from where, for the store's audit trail. The address
// is the connection's: X-Forwarded-For is the client's say-so and is not trusted.
func audit(r *http.Request) store.Audit {
	return store.Audit{Actor: principalOf(r.Context()).actor, RemoteAddr: r.RemoteAddr}
}

// maxSecretLength bounds a bearer secret; longer ones are refused without a look-up.
const maxSecretLength = 256

// unauthorized is a 401 that tells the client how to authenticate.
func unauthorized(detail string) error {
	e := newHTTPError(http.StatusUnauthorized, "%s", detail)
	e.header = http.Header{"Www-Authenticate": {`Bearer realm="tagdrift"`}}
	return e
}

// authenticate requires a valid bearer token on every request it wraps, then applies the
// token's rate limit.
func (a *api) authenticate(next http.Handler) http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := a.principal(r)
		if err != nil {
			return err
		}
		if err := a.limits.allow(p.limiterKey, a.now()); err != nil {
			return err
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		return nil
	})
}

// principal finds who the request's bearer token belongs to.
func (a *api) principal(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return principal{}, unauthorized("missing Authorization: Bearer <token>")
	}
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return principal{}, unauthorized("the Authorization header must be Bearer <token>")
	}
	if len(secret) > maxSecretLength {
		return principal{}, unauthorized("unknown, expired or revoked token")
	}
	if a.adminHash != nil {
		// Compare digests, so that the comparison takes the same time whatever the
		// secret's length.
		sum := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(sum[:], a.adminHash) == 1 {
			return principal{actor: "admin-token", role: store.RoleAdmin, limiterKey: "admin-token"}, nil
		}
	}
	now := a.now()
	try, wait := a.badTokens.take(addressKey(r.RemoteAddr), now)
	if wait > 0 {
		secs := retrySeconds(wait)
		e := newHTTPError(http.StatusTooManyRequests, "too many failed authentications from this address: retry in %d s", secs)
		e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
		return principal{}, e
	}
	release, err := a.lookups.acquire(r.Context())
	if err != nil {
		try.Succeeded() // the service was busy; the address did not fail
		return principal{}, err
	}
	tok, err := a.st.TokenBySecret(r.Context(), secret, now)
	release()
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, unauthorized("unknown, expired or revoked token")
	}
	try.Succeeded() // only unknown tokens count against the address
	if err != nil {
		return principal{}, about(err, "authenticate")
	}
	if a.touches.due(tok.ID, now) {
		if err := a.st.TouchToken(r.Context(), tok.ID, now); err != nil {
			// Last use is informative; failing the request for it would be worse.
			a.log.Warn("record token use", "token_id", tok.ID, "error", err.Error())
		}
	}
	return principal{
		actor:      "token:" + strconv.FormatInt(tok.ID, 10) + ":" + tok.Name,
		role:       tok.Role,
		limiterKey: "token:" + strconv.FormatInt(tok.ID, 10),
	}, nil
}

// requireAdmin lets only admins through; viewers get a 403.
func (a *api) requireAdmin(next http.Handler) http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		if principalOf(r.Context()).role != store.RoleAdmin {
			return newHTTPError(http.StatusForbidden, "this needs an admin token")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// limiters holds one token bucket per token. Only authenticated tokens get one, so
// there are no more than live tokens; buckets idle long enough to be full again are
// dropped, which changes nothing for their token.
type limiters struct {
	rate  rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newLimiters(perSecond float64, burst int) *limiters {
	return &limiters{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// refill is how long an idle bucket takes to be full again.
func (l *limiters) refill() time.Duration {
	return time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
}

// allow takes one request from key's bucket at now, or returns a 429 saying when to
// retry.
func (l *limiters) allow(key string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	res := b.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if res.OK() && delay == 0 {
		return nil
	}
	res.CancelAt(now)
	secs := int(math.Ceil(delay.Seconds()))
	if secs < 1 || !res.OK() {
		secs = 1
	}
	e := newHTTPError(http.StatusTooManyRequests, "rate limit of this token exceeded: retry in %d s", secs)
	e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return e
}

// sweep drops the buckets idle for longer than a refill, at most once a refill.
func (l *limiters) sweep(now time.Time) {
	refill := l.refill()
	if now.Sub(l.lastSweep) < refill {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) > refill {
			delete(l.buckets, k)
		}
	}
}

// size returns how many buckets are held.
func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// badTokenFailureEvery refills an address's failed token look-ups (Config.FailedAuthBurst
// at once): a client with a valid token is never slowed by them; one that retries a
// revoked token is.
const badTokenFailureEvery = time.Second

// touchEvery is how often a token's last use is written: the store keeps it to the
// minute, so writing more often would only cost a query per request.
const touchEvery = time.Minute

// touches remembers when each token's last use was last written.
type touches struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

// maxTouches bounds the map: past it, it starts again empty (at worst one extra write
// per token).
const maxTouches = 10000

// due reports whether token id's use at now should be written, and notes it.
func (t *touches) due(id int64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[id]; ok && now.Sub(last) < touchEvery && !now.Before(last) {
		return false
	}
	if t.last == nil || len(t.last) >= maxTouches {
		t.last = map[int64]time.Time{}
	}
	t.last[id] = now
	return true
}
