package access

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is the one rate limiter of the service: a token bucket per key (a token, a
// user, an account name, an address). Take takes a token before any work is done; a
// failed-attempt limit gives it back on success (Attempt.Succeeded), so that only
// failures count, and a request rate limit keeps it. Buckets idle long enough to be
// full again are swept, which changes nothing for their key; with maxKeys set, past it
// new keys share one overflow bucket, so that a flood of names or addresses costs
// bounded memory and is limited together.
type Limiter struct {
	rate    rate.Limit
	burst   int
	maxKeys int // 0: unbounded (keys that only authentication makes, such as token ids)

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  *bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
	// refusing is set by a refusal and cleared by the next take allowed: the first
	// refusal of a run starts a lockout.
	refusing bool
}

// NewLimiter allows burst takes at once per key, then r a second; maxKeys bounds the
// keys held (0 for no bound).
func NewLimiter(r rate.Limit, burst, maxKeys int) *Limiter {
	return &Limiter{
		rate: r, burst: burst, maxKeys: maxKeys,
		buckets:  map[string]*bucket{},
		overflow: &bucket{lim: rate.NewLimiter(r, burst)},
	}
}

// Attempt is one taken token; Succeeded gives it back. A refused take returns an
// Attempt too, with nothing to give back: its LockoutStarted says whether it was the
// first refusal of its key since a take was last allowed, so that a lockout is logged
// once, not once per refused request.
type Attempt struct {
	res *rate.Reservation
	at  time.Time
	// LockoutStarted: this refusal starts a lockout of its key.
	LockoutStarted bool
}

// Succeeded returns the attempt's token: a success is not a failure to count.
func (a Attempt) Succeeded() {
	if a.res != nil {
		a.res.CancelAt(a.at)
	}
}

// Take takes a token of key's bucket at now, or says how long until one is free.
func (l *Limiter) Take(key string, now time.Time) (Attempt, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		if l.maxKeys > 0 && len(l.buckets) >= l.maxKeys {
			b = l.overflow
		} else {
			b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
			l.buckets[key] = b
		}
	}
	b.lastSeen = now
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		first := !b.refusing
		b.refusing = true
		return Attempt{LockoutStarted: first}, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		first := !b.refusing
		b.refusing = true
		return Attempt{LockoutStarted: first}, d
	}
	b.refusing = false
	return Attempt{res: res, at: now}, 0
}

// refill is how long an idle bucket takes to be full again.
func (l *Limiter) refill() time.Duration {
	return time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
}

// sweep drops the buckets idle long enough to be full again, at most once a refill.
func (l *Limiter) sweep(now time.Time) {
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
func (l *Limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RetrySeconds is a wait in whole seconds, at least 1.
func RetrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// AddressKey is the limiter key of a client's address (Gate.Client): the IPv4 address,
// or the /64 of an IPv6 one (one host usually holds a whole /64).
func AddressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
