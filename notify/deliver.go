package notify

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Sender delivers one payload to one receiver.
type Sender interface {
	Send(ctx context.Context, p Payload) error
}

// Error is a failed delivery, as tagdrift words it: a class (timeout, connect,
// status-503, redirect, ...) and whether another attempt may succeed. It never holds
// the receiver's URL, its body or a secret, so it may be logged and shown on a
// channel's page.
type Error struct {
	// Channel is the sender's name (webhook, slack, pagerduty, alertmanager, email).
	Channel string
	// Class is the failure in a word or two.
	Class string
	// Retry is true for failures another attempt may get past: timeouts, refused
	// connections, 5xx and 429.
	Retry bool
	// RetryAfter is the receiver's Retry-After on a 429 or 503, 0 when it gave none.
	RetryAfter time.Duration
	// cause is a wrapped error already free of secrets (a context error), or nil.
	cause error
}

func (e *Error) Error() string {
	return fmt.Sprintf("deliver to %s: %s", e.Channel, e.Class)
}

func (e *Error) Unwrap() error { return e.cause }

// Retryable reports whether err, from a Sender, may go away on another attempt.
// Errors that are not an *Error (a payload that does not encode) are not.
func Retryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retry
}

// maxResponseBody is how much of a receiver's answer is read (and thrown away) so that
// the connection can be reused; a receiver that sends gigabytes cannot fill memory.
const maxResponseBody = 64 << 10

// NewHTTPClient returns the client senders use by default, and hand to the libraries
// that read answers themselves (Alertmanager's go-openapi client): it never follows a
// redirect (a receiver must not send tagdrift, and the secret in its URL or headers,
// elsewhere), reads at most 64 KiB of any answer, and gives up on an attempt after
// timeout. The address policy for channel URLs comes with channel registration: the
// caller then hands in its own client, built the same way.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   cmp.Or(timeout, DefaultAttemptTimeout),
		Transport: capBodies{http.DefaultTransport.(*http.Transport).Clone()},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// capBodies is a transport whose answers end after maxResponseBody bytes, whoever
// reads them.
type capBodies struct{ http.RoundTripper }

func (c capBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.RoundTripper.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = cappedBody{Reader: io.LimitReader(resp.Body, maxResponseBody), Closer: resp.Body}
	return resp, nil
}

type cappedBody struct {
	io.Reader
	io.Closer
}

// DefaultAttemptTimeout bounds one attempt of a delivery.
const DefaultAttemptTimeout = 10 * time.Second

// post sends body to url as JSON with header, and turns every failure into an *Error
// that names neither the URL nor anything the receiver said.
func post(ctx context.Context, client *http.Client, channel, url string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The URL does not parse: say so without quoting it (it may hold a token).
		return &Error{Channel: channel, Class: "bad-url"}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tagdrift")
	resp, err := client.Do(req)
	if err != nil {
		return transportError(ctx, channel, err)
	}
	defer resp.Body.Close()
	// Read a bounded part so the connection is reused; never keep or quote it.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	return statusError(channel, resp)
}

// statusError is nil for a 2xx answer, else its *Error: 5xx and 429 retry, other 4xx and
// redirects do not.
func statusError(channel string, resp *http.Response) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return &Error{Channel: channel, Class: "redirect-" + strconv.Itoa(code)}
	case code == http.StatusTooManyRequests || code >= 500:
		return &Error{Channel: channel, Class: "status-" + strconv.Itoa(code), Retry: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	default:
		return &Error{Channel: channel, Class: "status-" + strconv.Itoa(code)}
	}
}

// transportError classes a failure to get an answer. The *url.Error the client returns
// quotes the URL, so only the class is kept.
func transportError(ctx context.Context, channel string, err error) error {
	if ctx.Err() != nil {
		return &Error{Channel: channel, Class: "canceled", cause: ctx.Err()}
	}
	if refusedAddress(err) {
		// The address policy refused the receiver's address: it will again.
		return &Error{Channel: channel, Class: "forbidden-address"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Channel: channel, Class: "timeout", Retry: true}
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return &Error{Channel: channel, Class: "connect", Retry: true}
	}
	// TLS failures, malformed answers, a closed connection: another attempt may do.
	return &Error{Channel: channel, Class: "transport", Retry: true}
}

// retryAfter parses a Retry-After header in seconds (the form receivers use for 429);
// 0 when absent or in another form.
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(h)
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// RetryPolicy says how Retry tries again. In serve, River's retries stand in for it (a
// job per delivery, its backoff and attempt count); Retry is for sending at once (a
// channel's test message) and for the tests.
type RetryPolicy struct {
	// Attempts is how many attempts at most. Default 5.
	Attempts int
	// Base is the wait after the first failure, doubled after each next one, with
	// jitter. Default 1 s.
	Base time.Duration
	// Max caps one wait, a receiver's Retry-After included. Default 1 min.
	Max time.Duration
}

// Retry calls send until it succeeds, fails with an error that is not Retryable, or
// policy's attempts are spent, waiting with exponential backoff between attempts (a
// receiver's Retry-After when longer). It returns the last error.
func Retry(ctx context.Context, policy RetryPolicy, send func(context.Context) error) error {
	attempts := cmp.Or(policy.Attempts, 5)
	base := cmp.Or(policy.Base, time.Second)
	maxWait := cmp.Or(policy.Max, time.Minute)
	var err error
	for i := range attempts {
		if err = send(ctx); err == nil || !Retryable(err) || i == attempts-1 {
			return err
		}
		wait := base << i
		// Full jitter over the upper half, so that receivers coming back are not hit
		// by every sender at once.
		wait = wait/2 + rand.N(wait/2+1)
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter
		}
		wait = min(wait, maxWait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up waiting to retry: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
	return err
}
