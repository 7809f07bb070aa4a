package access

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
)

// lookups bounds the credential look-ups that run at once before anyone is known: API
// tokens, session cookies and sign-in names. The per-address limits bound what one
// address costs; this bounds what all addresses cost together, so that a flood from as
// many addresses as an attacker holds (each with its own burst) can never hold more than
// a few of the connections the scans share, however many requests wait.
type lookups struct {
	slots chan struct{}
	// wait is how long a look-up waits for a slot before its request gets 503.
	wait time.Duration
}

// LookupWait is how long a request waits for a look-up slot. A look-up is one indexed
// query, well under a millisecond, so only a flood makes anyone wait this long.
const LookupWait = 2 * time.Second

// defaultLookups sizes the bound for a pool of maxConns connections: a quarter of the
// pool, at most 4, at least 1.
func defaultLookups(maxConns int) int {
	return max(1, min(4, maxConns/4))
}

// newLookups allows n look-ups at once; a request waits at most wait for one.
func newLookups(n int, wait time.Duration) *lookups {
	return &lookups{slots: make(chan struct{}, n), wait: wait}
}

// Acquire waits for a look-up slot; the function it returns frees it. Past l.wait the
// answer is 503 with Retry-After: the service is overloaded, not the client refused.
func (l *lookups) Acquire(ctx context.Context) (func(), error) {
	release := func() { <-l.slots }
	select {
	case l.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		e := request.Errorf(http.StatusServiceUnavailable, "too many authentications at once: retry in 1 s")
		e.Header = http.Header{"Retry-After": {strconv.Itoa(1)}}
		return nil, e
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
