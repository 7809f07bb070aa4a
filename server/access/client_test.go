package access

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestTrustedProxiesClient(t *testing.T) {
	proxies := NewTrustedProxies([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.7/8"), // masked to 10.0.0.0/8
		netip.MustParsePrefix("2001:db8:ffff::/48"),
	})
	for _, tc := range []struct {
		name    string
		proxies TrustedProxies
		remote  string
		xff     []string
		want    string
	}{
		{name: "no proxies: the header is ignored", remote: "192.0.2.1:1234", xff: []string{"203.0.113.9"}, want: "192.0.2.1:1234"},
		{name: "untrusted peer: a forged header is ignored", proxies: proxies, remote: "192.0.2.1:1234", xff: []string{"203.0.113.9"}, want: "192.0.2.1:1234"},
		{name: "trusted peer, no header", proxies: proxies, remote: "10.1.2.3:80", want: "10.1.2.3:80"},
		{name: "trusted peer", proxies: proxies, remote: "10.1.2.3:80", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "the rightmost untrusted address, not what the client wrote", proxies: proxies, remote: "10.1.2.3:80",
			xff: []string{"198.51.100.66, 203.0.113.9, 10.9.9.9"}, want: "203.0.113.9"},
		{name: "several header lines are one list", proxies: proxies, remote: "10.1.2.3:80",
			xff: []string{"198.51.100.66", "203.0.113.9", "10.9.9.9"}, want: "203.0.113.9"},
		{name: "all trusted: the leftmost", proxies: proxies, remote: "10.1.2.3:80", xff: []string{"10.5.5.5, 10.9.9.9"}, want: "10.5.5.5"},
		{name: "garbage stops at the proxy to its right", proxies: proxies, remote: "10.1.2.3:80",
			xff: []string{"203.0.113.9, garbage, 10.9.9.9"}, want: "10.9.9.9"},
		{name: "garbage right after the peer", proxies: proxies, remote: "10.1.2.3:80", xff: []string{"garbage"}, want: "10.1.2.3:80"},
		{name: "ports and brackets", proxies: proxies, remote: "[2001:db8:ffff::1]:443",
			xff: []string{"[2001:db8:1::5]:5555"}, want: "2001:db8:1::5"},
		{name: "IPv4-mapped peer", proxies: proxies, remote: "[::ffff:10.1.2.3]:80", xff: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.proxies.Client(r); got != tc.want {
				t.Errorf("Client = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecentTokensBounded(t *testing.T) {
	c := newRecentTokens(3)
	sum := func(i int) [32]byte { return [32]byte{byte(i)} }
	for i := range 3 {
		c.add(sum(i))
	}
	if !c.has(sum(0)) { // 0 is now the most recent
		t.Fatal("0 forgotten")
	}
	c.add(sum(3)) // forgets 1, the least recent
	if c.has(sum(1)) || !c.has(sum(0)) || !c.has(sum(2)) || !c.has(sum(3)) {
		t.Errorf("after a fourth: want 1 forgotten and 0, 2, 3 kept")
	}
	c.remove(sum(2))
	if c.has(sum(2)) || c.len() != 2 {
		t.Errorf("remove: %d left", c.len())
	}
	for i := range 100 {
		c.add(sum(i))
	}
	if c.len() != 3 {
		t.Errorf("%d held, want at most 3", c.len())
	}
}

// TestLimiterLockoutStarted: a lockout is reported once, by its first refusal, and again
// after a take was allowed.
func TestLimiterLockoutStarted(t *testing.T) {
	l := NewLimiter(rate.Every(time.Second), 2, 0)
	now := time.Now()
	var started []bool
	for range 5 {
		a, wait := l.Take("k", now)
		if wait > 0 {
			started = append(started, a.LockoutStarted)
		}
	}
	if fmt.Sprint(started) != "[true false false]" {
		t.Errorf("refusals started lockouts %v, want [true false false]", started)
	}
	if _, wait := l.Take("k", now.Add(time.Second)); wait != 0 {
		t.Fatal("refused after a refill")
	}
	if a, wait := l.Take("k", now.Add(time.Second)); wait == 0 || !a.LockoutStarted {
		t.Errorf("a new lockout after an allowed take: wait %s, started %t", wait, a.LockoutStarted)
	}
}
