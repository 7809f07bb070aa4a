package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Dialer connects to clusters registered with the service, checking the address each
// connection really goes to (after name resolution, so that a name cannot be pointed
// at an internal address later): link-local and cloud metadata addresses are always
// refused; loopback, private and other internal ranges only where Allowed holds them.
type Dialer struct {
	// Allowed lists the internal networks clusters may be reached on
	// (--allow-cluster-network CIDR).
	Allowed []netip.Prefix
}

// metadataAddrs are cloud instance metadata endpoints outside the link-local range.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),      // AWS over IPv6
	netip.MustParseAddr("fd00:ec2::23"),       // AWS's time service over IPv6
	netip.MustParseAddr("fd20:ce::254"),       // Google Cloud over IPv6
	netip.MustParseAddr("fd00:c1::a9fe:a9fe"), // Oracle Cloud over IPv6
	netip.MustParseAddr("fd00:42::42"),        // DigitalOcean over IPv6
	netip.MustParseAddr("100.100.100.200"),    // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"),      // Azure's wire server (and its DNS)
}

// special are ranges no cluster can be on: never allowed, whatever --allow-cluster-network
// says.
var special = []netip.Prefix{
	netip.MustParsePrefix("192.0.0.0/24"), // IETF protocol assignments (DS-Lite, Oracle Cloud's 192.0.0.192, …)
	netip.MustParsePrefix("240.0.0.0/4"),  // reserved
	netip.MustParsePrefix("100::/64"),     // discard-only
}

// internal are ranges that are not the public internet.
var internal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fec0::/10"),      // site-local, deprecated but routed by some
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64: translates to addresses of the operator's choosing
}

// IPv6 forms that carry an IPv4 address the packet really goes to (or through).
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // well-known NAT64 prefix: the last 32 bits
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated (SIIT): the last 32 bits
	compatible = netip.MustParsePrefix("::/96")           // IPv4-compatible (deprecated): the last 32 bits
	sixToFour  = netip.MustParsePrefix("2002::/16")       // 6to4: bits 16 to 48
	teredo     = netip.MustParsePrefix("2001::/32")       // Teredo: the server in bits 32 to 64, the client inverted in the last 32
)

// embedded returns the IPv4 addresses an IPv6 address carries, and the form's name.
func embedded(ip netip.Addr) ([]netip.Addr, string) {
	if !ip.Is6() {
		return nil, ""
	}
	b := ip.As16()
	last := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	switch {
	case nat64.Contains(ip):
		return []netip.Addr{last}, "NAT64"
	case translated.Contains(ip):
		return []netip.Addr{last}, "IPv4-translated"
	case compatible.Contains(ip) && !ip.IsLoopback() && !ip.IsUnspecified():
		return []netip.Addr{last}, "IPv4-compatible"
	case sixToFour.Contains(ip):
		return []netip.Addr{netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})}, "6to4"
	case teredo.Contains(ip):
		return []netip.Addr{
			netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}),
			netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}),
		}, "Teredo"
	}
	return nil, ""
}

// Check says whether a connection to ip is allowed. An IPv4-mapped address is judged as
// the IPv4 address it is; any other IPv6 address that carries an IPv4 one (NAT64,
// IPv4-translated, IPv4-compatible, 6to4, Teredo) is allowed only when each IPv4
// address it carries is.
func (d *Dialer) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return errors.New("invalid address")
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || slices.Contains(metadataAddrs, ip):
		return &RefusedError{Addr: ip, Rule: "is link-local or a cloud metadata endpoint: never allowed"}
	case ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return &RefusedError{Addr: ip, Rule: "cannot be a cluster"}
	}
	for _, p := range special {
		if p.Contains(ip) {
			return &RefusedError{Addr: ip, Rule: fmt.Sprintf("is in the special-purpose range %s: never allowed", p)}
		}
	}
	if inner, form := embedded(ip); inner != nil {
		for _, v4 := range inner {
			if err := d.Check(v4); err != nil {
				var r *RefusedError
				if !errors.As(err, &r) {
					return err
				}
				return &RefusedError{Addr: ip, Carried: v4, Form: form, Rule: r.Rule}
			}
		}
	}
	for _, p := range d.Allowed {
		if p.Contains(ip) {
			return nil
		}
	}
	for _, p := range internal {
		if p.Contains(ip) {
			return &RefusedError{Addr: ip, Rule: fmt.Sprintf("is internal (%s): allow it with --allow-cluster-network", p)}
		}
	}
	return nil
}

// RefusedError is an address Check refused, and the rule that refused it. Reason names
// no address, so that it can be shown to people who may not learn what a cluster's name
// resolves to; Error, for the log, names it.
type RefusedError struct {
	Addr netip.Addr
	// Carried is the IPv4 address inside Addr that the rule judged, and Form the IPv6
	// form that carries it (NAT64, 6to4, …); zero and "" when Addr itself was judged.
	Carried netip.Addr
	Form    string
	Rule    string
}

func (e *RefusedError) Error() string {
	if e.Carried.IsValid() {
		return fmt.Sprintf("address %s carries %s (%s), which %s", e.Addr, e.Carried, e.Form, e.Rule)
	}
	return fmt.Sprintf("address %s %s", e.Addr, e.Rule)
}

// Reason is the refusal without the address: "is internal (10.0.0.0/8): …".
func (e *RefusedError) Reason() string {
	if e.Carried.IsValid() {
		return "carries an IPv4 address (" + e.Form + ") that " + e.Rule
	}
	return e.Rule
}

// AddressError is a connection the dialer refused for its address.
type AddressError struct {
	Address string
	Err     error
}

func (e *AddressError) Error() string { return fmt.Sprintf("dial %s: %v", e.Address, e.Err) }
func (e *AddressError) Unwrap() error { return e.Err }

// DialContext connects like net.Dialer, refusing addresses Check refuses.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nd := net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &AddressError{Address: address, Err: err}
			}
			if err := d.Check(ap.Addr()); err != nil {
				return &AddressError{Address: address, Err: err}
			}
			return nil
		},
	}
	return nd.DialContext(ctx, network, address)
}

// RedirectError is a redirect from a cluster's API server, which is never followed: it
// could send the credentials, and bring back the answer, of any other address.
type RedirectError struct {
	Status int
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the API server answered %d, a redirect: redirects are never followed", e.Status)
}

// noRedirects turns every redirect into a RedirectError, so that no client follows it.
type noRedirects struct{ next http.RoundTripper }

func (t noRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		resp.Body.Close()
		return nil, &RedirectError{Status: resp.StatusCode}
	}
	return resp, nil
}

// RESTConfig builds a client configuration from a vetted kubeconfig after checking it
// against the current policy (Check): inline credentials only, no proxy from the
// environment, every connection through dialer, redirects refused, and an exec profile's
// plugin run by tagdrift with the profile's environment alone.
func (r Reduced) RESTConfig(dialer *Dialer, policy Policy) (*rest.Config, error) {
	if err := r.Check(policy); err != nil {
		return nil, err
	}
	cfg := &rest.Config{
		Host:        r.Server,
		BearerToken: r.Token,
		TLSClientConfig: rest.TLSClientConfig{
			Insecure:   r.Insecure,
			ServerName: r.TLSServerName,
			CAData:     r.CAData,
			CertData:   r.ClientCert,
			KeyData:    r.ClientKey,
		},
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
		Dial:  dialer.DialContext,
	}
	var auth *execAuth
	if r.Exec != nil {
		prof, _ := policy.profile(r.Exec.Profile)
		auth = &execAuth{profile: *prof, values: r.Exec.Values, now: time.Now}
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		rt = noRedirects{next: rt}
		if auth != nil {
			rt = &execRoundTripper{auth: auth, next: rt}
		}
		return rt
	}
	return cfg, nil
}
