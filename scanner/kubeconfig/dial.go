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
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
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
}

// Check says whether a connection to ip is allowed.
func (d *Dialer) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return errors.New("invalid address")
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || slices.Contains(metadataAddrs, ip):
		return fmt.Errorf("address %s is link-local or a cloud metadata endpoint: never allowed", ip)
	case ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("address %s cannot be a cluster", ip)
	}
	for _, p := range d.Allowed {
		if p.Contains(ip) {
			return nil
		}
	}
	for _, p := range internal {
		if p.Contains(ip) {
			return fmt.Errorf("address %s is internal (%s): allow it with --allow-cluster-network", ip, p)
		}
	}
	return nil
}

// DialContext connects like net.Dialer, refusing addresses Check refuses.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nd := net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			if err := d.Check(ap.Addr()); err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			return nil
		},
	}
	return nd.DialContext(ctx, network, address)
}

// RESTConfig builds a client configuration from a vetted kubeconfig: inline credentials
// only, no proxy from the environment, every connection through dialer.
func (r Reduced) RESTConfig(dialer *Dialer) *rest.Config {
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
	if r.Exec != nil {
		exec := &clientcmdapi.ExecConfig{
			APIVersion:      r.Exec.APIVersion,
			Command:         r.Exec.Command,
			Args:            r.Exec.Args,
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}
		for _, e := range r.Exec.Env {
			exec.Env = append(exec.Env, clientcmdapi.ExecEnvVar{Name: e.Name, Value: e.Value})
		}
		cfg.ExecProvider = exec
	}
	return cfg
}
