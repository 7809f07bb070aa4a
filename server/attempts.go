package server

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// attempts limits failed attempts per key (an account name, an address) with a token
// bucket: each attempt takes a token before any work is done, and a success gives it
// back, so only failures count. Keys are bounded: buckets full again are swept, and past
// maxKeys new keys share one overflow bucket, so a flood of names or addresses costs
// bounded memory and is limited together.
type attempts struct {
	rate    rate.Limit
	burst   int
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*attemptBucket
	overflow  *attemptBucket
	lastSweep time.Time
}

type attemptBucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// newAttempts allows burst failures at once per key, then one every every.
func newAttempts(burst int, every time.Duration, maxKeys int) *attempts {
	return &attempts{
		rate: rate.Every(every), burst: burst, maxKeys: maxKeys,
		buckets:  map[string]*attemptBucket{},
		overflow: &attemptBucket{lim: rate.NewLimiter(rate.Every(every), burst)},
	}
}

// attempt is one taken token; Succeeded gives it back.
type attempt struct {
	res *rate.Reservation
	at  time.Time
}

// Succeeded returns the attempt's token: a success is not a failure to count.
func (a attempt) Succeeded() {
	if a.res != nil {
		a.res.CancelAt(a.at)
	}
}

// take takes a token of key's bucket at now, or says how long until one is free.
func (l *attempts) take(key string, now time.Time) (attempt, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			b = l.overflow
		} else {
			b = &attemptBucket{lim: rate.NewLimiter(l.rate, l.burst)}
			l.buckets[key] = b
		}
	}
	b.lastSeen = now
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		return attempt{}, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return attempt{}, d
	}
	return attempt{res: res, at: now}, 0
}

// sweep drops the buckets idle long enough to be full again, at most once a refill.
func (l *attempts) sweep(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
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

// retrySeconds is a wait in whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// addressKey is the limiter key of a request's remote address: the IPv4 address, or the
// /64 of an IPv6 one (one host usually holds a whole /64). The address is the
// connection's; X-Forwarded-For is the client's say-so.
func addressKey(remoteAddr string) string {
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
