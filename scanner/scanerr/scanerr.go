// Package scanerr says why a scan failed in words tagdrift chose: a short class and a
// message, with the cluster's HTTP status where it answered one. A cluster's answer can
// hold anything (a redirect target's page, a proxy's error page, text chosen to mislead
// whoever reads the scan record), so nothing it sent is ever part of either: the full
// error goes to the log only.
package scanerr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// Classes of scan errors.
const (
	Unreachable     = "unreachable"
	TLS             = "tls"
	Unauthorized    = "unauthorized"
	Forbidden       = "forbidden"
	NotFound        = "not found"
	Timeout         = "timeout"
	RedirectRefused = "redirect refused"
	Policy          = "policy"
	TooLarge        = "too large"
	Credentials     = "credentials"
	Throttled       = "throttled"
	ServerError     = "server error"
	APIError        = "api error"
	Aborted         = "aborted"
	Internal        = "internal"
	Unknown         = "unknown"
)

// Error is a classified scan error.
type Error struct {
	Class   string
	Message string
	// Status is the HTTP status the cluster answered; 0 when it answered none.
	Status int
}

// Classify says why err happened, in tagdrift's words.
func Classify(err error) Error {
	if err == nil {
		return Error{}
	}
	e := classify(err)
	var le *kube.ListError
	if errors.As(err, &le) {
		e.Message = "list " + le.What + ": " + e.Message
	}
	return e
}

func classify(err error) Error {
	var (
		pe     *kubeconfig.PolicyError
		ae     *kubeconfig.AddressError
		re     *kubeconfig.RedirectError
		ee     *kubeconfig.ExecError
		tl     *kube.TooLargeError
		status apierrors.APIStatus
		dns    *net.DNSError
		unk    x509.UnknownAuthorityError
		host   x509.HostnameError
		inv    x509.CertificateInvalidError
		verify *tls.CertificateVerificationError
		record tls.RecordHeaderError
		alert  tls.AlertError
		netErr net.Error
	)
	switch {
	case errors.As(err, &tl):
		// Before the network cases: a response cut at its cap can surface as a broken
		// read as well.
		return Error{Class: TooLarge, Message: tl.Error() + ": the scan keeps nothing of it"}
	case errors.Is(err, kube.ErrMalformed):
		return Error{Class: APIError, Message: kube.ErrMalformed.Error()}
	case errors.As(err, &pe):
		return Error{Class: Policy, Message: pe.Error()}
	case errors.As(err, &ae):
		// What the cluster's name resolved to is not for every viewer of the scan: the
		// stored message gives the rule, the log the address.
		var refused *kubeconfig.RefusedError
		if errors.As(ae, &refused) {
			return Error{Class: Policy, Message: "connection refused by tagdrift: the API server's address " + refused.Reason()}
		}
		return Error{Class: Policy, Message: "connection refused by tagdrift: the API server's address is not one it may connect to"}
	case errors.As(err, &re):
		return Error{Class: RedirectRefused, Status: re.Status,
			Message: fmt.Sprintf("the API server answered %d (a redirect), which is never followed", re.Status)}
	case errors.As(err, &ee):
		return Error{Class: Credentials, Message: ee.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return Error{Class: Timeout, Message: "the API server did not answer in time"}
	case errors.Is(err, context.Canceled):
		return Error{Class: Aborted, Message: "the scan was cancelled"}
	case errors.As(err, &status) && status.Status().Code != 0:
		return fromStatus(int(status.Status().Code))
	case errors.As(err, &unk), errors.As(err, &host), errors.As(err, &inv), errors.As(err, &verify):
		return Error{Class: TLS, Message: "the API server's certificate could not be verified with the kubeconfig's certificate authority and server name"}
	case errors.As(err, &record):
		return Error{Class: TLS, Message: "the API server does not speak TLS"}
	case errors.As(err, &alert):
		return Error{Class: TLS, Message: "the API server refused the TLS handshake (a client certificate it does not accept?)"}
	case errors.As(err, &dns):
		return Error{Class: Unreachable, Message: "the API server's name does not resolve"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Error{Class: Unreachable, Message: "the API server refused the connection"}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Error{Class: Unreachable, Message: "no route to the API server"}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Error{Class: Unreachable, Message: "the connection to the API server broke"}
	case errors.As(err, &netErr) && netErr.Timeout():
		return Error{Class: Timeout, Message: "the API server did not answer in time"}
	case errors.As(err, &netErr):
		return Error{Class: Unreachable, Message: "the API server could not be reached"}
	}
	return Error{Class: Unknown, Message: "the scan failed; the service's log says why"}
}

// fromStatus classifies an HTTP status the API server answered.
func fromStatus(code int) Error {
	e := Error{Status: code, Message: fmt.Sprintf("the API server answered %d %s", code, http.StatusText(code))}
	switch {
	case code == http.StatusUnauthorized:
		e.Class = Unauthorized
		e.Message += ": the credentials are not accepted"
	case code == http.StatusForbidden:
		e.Class = Forbidden
		e.Message += ": the credentials lack a right the scan needs (deploy/scanned-cluster/)"
	case code == http.StatusNotFound:
		e.Class = NotFound
		e.Message += ": is the server URL a Kubernetes API server?"
	case code == http.StatusTooManyRequests:
		e.Class = Throttled
	case code == http.StatusGatewayTimeout || code == http.StatusRequestTimeout:
		e.Class = Timeout
	case code >= 500:
		e.Class = ServerError
	case code >= 300 && code < 400:
		e.Class = RedirectRefused
	default:
		e.Class = APIError
	}
	return e
}
