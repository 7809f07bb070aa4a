package access

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed
// (--trusted-proxy). A request's client is the connection's peer, unless the peer is a
// trusted proxy: then X-Forwarded-For is read right to left, skipping trusted proxies,
// and the first address that is not one is the client (as Caddy's trusted_proxies do).
// Whatever a client writes in the header itself lies to the left of what the proxies
// appended, so it is never taken while an untrusted address stands to its right.
type TrustedProxies []netip.Prefix

// NewTrustedProxies are the proxies of prefixes, masked (192.0.2.7/24 is 192.0.2.0/24).
func NewTrustedProxies(prefixes []netip.Prefix) TrustedProxies {
	out := make(TrustedProxies, 0, len(prefixes))
	for _, p := range prefixes {
		out = append(out, p.Masked())
	}
	return out
}

// trusts reports whether a is a trusted proxy.
func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is the address of r's client: the connection's address (host and port, as
// r.RemoteAddr has it) when the peer is not a trusted proxy; else the address
// X-Forwarded-For gives (without a port). When every address of the header is a trusted
// proxy, the leftmost is the client; an entry that does not parse stops the walk at the
// trusted proxy to its right, which is then taken as the client.
func (t TrustedProxies) Client(r *http.Request) string {
	if len(t) == 0 {
		return r.RemoteAddr
	}
	peer, ok := parseHost(r.RemoteAddr)
	if !ok || !t.trusts(peer) {
		return r.RemoteAddr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHost(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		client = a
		if !t.trusts(a) {
			break
		}
	}
	if client == peer {
		return r.RemoteAddr
	}
	return client.Unmap().String()
}

// parseHost reads an address with or without a port ("192.0.2.1", "192.0.2.1:80",
// "[2001:db8::1]:80", "2001:db8::1").
func parseHost(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone(""), true
}

// Client is the address of r's client, behind the gate's trusted proxies: what the
// failed-attempt limits key on (AddressKey), the audit trail records and the logs name.
func (g *Gate) Client(r *http.Request) string { return g.proxies.Client(r) }
