package access

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// maxSecretLength bounds a bearer secret; longer ones are refused without a look-up.
const maxSecretLength = 256

// Unauthorized is a 401 that tells the client how to authenticate.
func Unauthorized(detail string) error {
	e := request.Errorf(http.StatusUnauthorized, "%s", detail)
	e.Header = http.Header{"Www-Authenticate": {`Bearer realm="tagdrift"`}}
	return e
}

// Principal finds who the request's bearer token belongs to. Unknown tokens count
// against the client's address (Gate.Client), before the database is asked; a secret
// seen valid recently skips that limit, so that no client is refused for another's
// failures behind the same proxy. The look-up waits for a slot of the bound all
// addresses share.
func (g *Gate) Principal(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return Principal{}, Unauthorized("missing Authorization: Bearer <token>")
	}
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return Principal{}, Unauthorized("the Authorization header must be Bearer <token>")
	}
	client := g.Client(r)
	if len(secret) > maxSecretLength {
		g.log.Info("token refused", "reason", "too long", "client", client)
		return Principal{}, Unauthorized("unknown, expired or revoked token")
	}
	// Compare digests, so that the comparison takes the same time whatever the
	// secret's length.
	sum := sha256.Sum256([]byte(secret))
	if g.adminHash != nil && subtle.ConstantTimeCompare(sum[:], g.adminHash) == 1 {
		return Principal{Actor: "admin-token", Grants: store.OneGrant(store.RoleAdmin, store.Scope{}), LimiterKey: "admin-token", Client: client}, nil
	}
	now := g.now()
	var try Attempt
	if !g.recent.has(sum) {
		var wait time.Duration
		if try, wait = g.badTokens.Take(AddressKey(client), now); wait > 0 {
			if try.LockoutStarted {
				g.log.Warn("failed token look-ups locked out a client", "client", client, "retry_after_s", RetrySeconds(wait))
			}
			secs := RetrySeconds(wait)
			e := request.Errorf(http.StatusTooManyRequests, "too many failed authentications from this address: retry in %d s", secs)
			e.Header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
			return Principal{}, e
		}
	}
	release, err := g.lookups.Acquire(r.Context())
	if err != nil {
		try.Succeeded() // the service was busy; the address did not fail
		return Principal{}, err
	}
	tok, err := g.st.TokenBySecret(r.Context(), secret, now)
	release()
	if errors.Is(err, store.ErrNotFound) {
		g.recent.remove(sum)
		g.logRefusal(err, secret, client)
		return Principal{}, Unauthorized("unknown, expired or revoked token")
	}
	try.Succeeded() // only unknown tokens count against the address
	if err != nil {
		return Principal{}, request.About(err, "authenticate")
	}
	g.recent.add(sum)
	if g.touches.due(tok.ID, now) {
		if err := g.st.TouchToken(r.Context(), tok.ID, now); err != nil {
			// Last use is informative; failing the request for it would be worse.
			g.log.Warn("record token use", "token_id", tok.ID, "error", err.Error())
		}
	}
	return Principal{
		Actor:      "token:" + strconv.FormatInt(tok.ID, 10) + ":" + tok.Name,
		LimiterKey: "token:" + strconv.FormatInt(tok.ID, 10),
		UserID:     tok.OwnerID,
		Client:     client,
		Grants:     tok.Grants, // cut to its owner's (store.TokenBySecret)
	}, nil
}

// logRefusal logs a refused token so that it can be traced: a known one by its id,
// name and owner and why it was refused, an unknown one by its prefix; with the client.
func (g *Gate) logRefusal(err error, secret, client string) {
	var refused *store.RefusedTokenError
	if errors.As(err, &refused) {
		g.log.Info("token refused", "reason", refused.Reason, "token_id", refused.Token.ID, "token_name", refused.Token.Name,
			"owner", refused.Token.Owner, "token_prefix", secretPrefix(secret), "client", client)
		return
	}
	g.log.Info("token refused", "reason", "unknown", "token_prefix", secretPrefix(secret), "client", client)
}

// secretPrefixLength is how much of a refused secret the log shows: "tdt_" and four
// characters, 24 of its 256 random bits, enough for its owner to recognize it.
const secretPrefixLength = 8

// secretPrefix is what the log may show of a refused bearer secret: the start of one
// of tagdrift's (store tokens begin "tdt_"), nothing of anything else, which may be a
// password pasted by mistake.
func secretPrefix(secret string) string {
	if !strings.HasPrefix(secret, "tdt_") || len(secret) < 40 {
		return "(not a tagdrift token)"
	}
	return secret[:secretPrefixLength]
}

// Allow takes one request from p's rate limit, or returns a 429 saying when to retry.
func (g *Gate) Allow(p Principal) error {
	_, wait := g.requests.Take(p.LimiterKey, g.now())
	if wait == 0 {
		return nil
	}
	secs := RetrySeconds(wait)
	e := request.Errorf(http.StatusTooManyRequests, "rate limit of this token exceeded: retry in %d s", secs)
	e.Header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return e
}

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
