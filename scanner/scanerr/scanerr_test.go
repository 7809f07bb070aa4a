package scanerr

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// TestClassify checks each kind of failure gets its class, and that what the cluster
// sent (here the word "leak") never reaches the message.
func TestClassify(t *testing.T) {
	get := func(err error) error { return &url.Error{Op: "Get", URL: "https://k/api/v1/pods", Err: err} }
	pods := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		err    error
		class  string
		status int
	}{
		{&kube.ListError{What: "pods", Err: get(&kubeconfig.RedirectError{Status: 302})}, RedirectRefused, 302},
		{&kubeconfig.PolicyError{Reason: "exec profile \"x\" is no longer defined"}, Policy, 0},
		{get(&net.OpError{Op: "dial", Err: &kubeconfig.AddressError{Address: "10.0.0.1:443", Err: errors.New("address 10.0.0.1 is internal")}}), Policy, 0},
		{&kubeconfig.ExecError{Profile: "eks", Reason: "plugin exited with status 1"}, Credentials, 0},
		{apierrors.NewUnauthorized("leak"), Unauthorized, 401},
		{&kube.ListError{What: "pods", Err: apierrors.NewForbidden(pods, "leak", errors.New("leak"))}, Forbidden, 403},
		{apierrors.NewNotFound(pods, "leak"), NotFound, 404},
		{apierrors.NewGenericServerResponse(502, "get", pods, "leak", "<html>leak</html>", 0, true), ServerError, 502},
		{apierrors.NewTooManyRequests("leak", 1), Throttled, 429},
		{get(x509.UnknownAuthorityError{}), TLS, 0},
		{get(x509.HostnameError{Host: "leak"}), TLS, 0},
		{get(&net.DNSError{Err: "no such host", Name: "leak"}), Unreachable, 0},
		{get(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), Unreachable, 0},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), Timeout, 0},
		{&kube.ListError{What: "pods", Err: fmt.Errorf("unexpected error when reading response body: %w",
			&kube.TooLargeError{What: "response", Limit: 4 << 20})}, TooLarge, 0},
		{&kube.ListError{What: "pods", Err: &kube.TooLargeError{What: "objects", Limit: 10}}, TooLarge, 0},
		{&kube.ListError{What: "pods", Err: fmt.Errorf("%w: leak", kube.ErrMalformed)}, APIError, 0},
		{errors.New("leak"), Unknown, 0},
	}
	for _, tt := range tests {
		got := Classify(tt.err)
		if got.Class != tt.class || got.Status != tt.status {
			t.Errorf("Classify(%v) = %+v, want class %q status %d", tt.err, got, tt.class, tt.status)
		}
		if got.Message == "" || strings.Contains(got.Message, "leak") {
			t.Errorf("Classify(%v) message %q", tt.err, got.Message)
		}
	}
	if got := Classify(&kube.ListError{What: "pods", Err: apierrors.NewUnauthorized("x")}); !strings.HasPrefix(got.Message, "list pods: ") {
		t.Errorf("a list error's message %q does not say what was listed", got.Message)
	}
}

// TestClassifyHidesResolvedAddresses: a connection the dialer refused is stored with the
// rule that refused it, never the address the cluster's name resolved to, which viewers
// of the scan may not learn (the log has it).
func TestClassifyHidesResolvedAddresses(t *testing.T) {
	var d kubeconfig.Dialer
	for _, tc := range []struct{ addr, hidden, rule string }{
		{"10.20.30.40", "10.20.30.40", "is internal (10.0.0.0/8)"},
		{"169.254.169.254", "169.254.169.254", "cloud metadata"},
		{"64:ff9b::a14:1e28", "10.20.30.40", "carries an IPv4 address (NAT64) that is internal"},
	} {
		ip := netip.MustParseAddr(tc.addr)
		refused := d.Check(ip)
		if refused == nil {
			t.Fatalf("%s allowed", tc.addr)
		}
		if !strings.Contains(refused.Error(), tc.hidden) {
			t.Errorf("the log's error %q does not name %s", refused, tc.hidden)
		}
		got := Classify(&net.OpError{Op: "dial", Err: &kubeconfig.AddressError{Address: netip.AddrPortFrom(ip, 443).String(), Err: refused}})
		if got.Class != Policy || strings.Contains(got.Message, tc.hidden) || strings.Contains(got.Message, tc.addr) || !strings.Contains(got.Message, tc.rule) {
			t.Errorf("%s: %+v", tc.addr, got)
		}
	}
}
