package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// Channel kinds, as the store writes them.
const (
	KindWebhook      = "webhook"
	KindSlack        = "slack"
	KindPagerDuty    = "pagerduty"
	KindAlertmanager = "alertmanager"
	KindEmail        = "email"
)

// Kinds lists the channel kinds.
var Kinds = []string{KindWebhook, KindSlack, KindPagerDuty, KindAlertmanager, KindEmail}

// What each kind keeps in its (non-secret) JSON config and in its secret:
//
//	webhook:      {"url": "https://…"}                       secret: the signing secret, whsec_…
//	slack:        {}                                         secret: the incoming webhook URL
//	pagerduty:    {"url": "…" (default the Events API v2), "severity": "warning"}
//	                                                         secret: the routing key
//	alertmanager: {"url": "http://am:9093", "alertName": "TagdriftMutation", "username": ""}
//	                                                         secret: the basic auth password, optional
//	email:        {"host": "smtp.example.com", "port": 587, "username": "", "from": "tagdrift@…",
//	               "to": ["a@…"], "plain": false}           secret: the SMTP password, optional

// WebhookConfig is a webhook channel's config.
type WebhookConfig struct {
	URL string `json:"url"`
}

// SlackConfig is a Slack channel's config: nothing, its URL is its secret.
type SlackConfig struct{}

// PagerDutyConfig is a PagerDuty channel's config.
type PagerDutyConfig struct {
	// URL is the Events API v2 endpoint; "" is PagerDuty's.
	URL string `json:"url,omitempty"`
	// Severity of triggered incidents: critical, error, warning (default) or info.
	Severity string `json:"severity,omitempty"`
}

// AlertmanagerConfig is an Alertmanager channel's config.
type AlertmanagerConfig struct {
	URL string `json:"url"`
	// AlertName is the alertname label; "" is DefaultAlertName.
	AlertName string `json:"alertName,omitempty"`
	// Username is the basic auth user; the secret is the password.
	Username string `json:"username,omitempty"`
}

// EmailConfig is an email channel's config.
type EmailConfig struct {
	Host string `json:"host"`
	// Port is the SMTP submission port; 0 is 587.
	Port     int      `json:"port,omitempty"`
	Username string   `json:"username,omitempty"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	// Plain allows a server without STARTTLS (a relay on the same host); default false:
	// STARTTLS is required.
	Plain bool `json:"plain,omitempty"`
}

// ChannelError is a channel's config or secret that does not do. Its message quotes
// neither the secret nor a URL (which may carry a token): it may be shown to the admin
// who registers the channel.
type ChannelError struct {
	Kind  string
	Field string
	Msg   string
}

func (e *ChannelError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s channel: %s", e.Kind, e.Msg)
	}
	return fmt.Sprintf("%s channel: %s: %s", e.Kind, e.Field, e.Msg)
}

// ValidateChannel checks a channel's config and secret as Build would use them,
// without sending anything, so that the API can refuse a bad channel when it is
// registered. config nil is {}.
func ValidateChannel(kind string, config json.RawMessage, secret []byte) error {
	_, err := parseChannel(kind, config, secret)
	return err
}

// BuildOption sets what Build gives the senders beside the channel.
type BuildOption func(*buildOptions)

type buildOptions struct {
	timeout  time.Duration
	repost   time.Duration
	eventTTL time.Duration
	now      func() time.Time
}

// WithAttemptTimeout bounds an email attempt's connection (HTTP senders take their
// client's timeout and the context's deadline).
func WithAttemptTimeout(d time.Duration) BuildOption {
	return func(o *buildOptions) { o.timeout = d }
}

// WithAlertmanagerTimes sets how often open alerts are re-posted (their endsAt is a few
// of these ahead) and when an event.recorded alert ends by itself.
func WithAlertmanagerTimes(repost, eventTTL time.Duration) BuildOption {
	return func(o *buildOptions) { o.repost, o.eventTTL = repost, eventTTL }
}

// WithClock sets the clock of webhook timestamps and alerts (tests).
func WithClock(now func() time.Time) BuildOption {
	return func(o *buildOptions) { o.now = now }
}

// Build returns the sender of a stored channel: its kind, its non-secret JSON config,
// its opened secret (nil for none), and the HTTP client every request goes through
// (NewChannelClient's, which holds the address policy; nil is NewHTTPClient's, without
// one). An email channel dials through the same client's dialer when it is one of
// NewChannelClient's. The error is a *ChannelError when the channel does not do.
func Build(kind string, config json.RawMessage, secret []byte, client *http.Client, opts ...BuildOption) (Sender, error) {
	var o buildOptions
	for _, opt := range opts {
		opt(&o)
	}
	parsed, err := parseChannel(kind, config, secret)
	if err != nil {
		return nil, err
	}
	switch c := parsed.(type) {
	case WebhookConfig:
		return &Webhook{URL: c.URL, Secret: string(secret), Client: client, Now: o.now}, nil
	case SlackConfig:
		return &Slack{URL: strings.TrimSpace(string(secret)), Client: client}, nil
	case PagerDutyConfig:
		return &PagerDuty{RoutingKey: strings.TrimSpace(string(secret)), URL: c.URL, Severity: c.Severity, Client: client}, nil
	case AlertmanagerConfig:
		u, _ := url.Parse(c.URL) // parsed by parseChannel
		if c.Username != "" || len(secret) > 0 {
			u.User = url.UserPassword(c.Username, string(secret))
		}
		return &Alertmanager{
			URL: u.String(), AlertName: c.AlertName, RepostInterval: o.repost, EventTTL: o.eventTTL,
			Client: client, Now: o.now,
		}, nil
	case EmailConfig:
		return &Email{
			Host: c.Host, Port: c.Port, Username: c.Username, Password: string(secret), From: c.From, To: c.To,
			Plain: c.Plain, Timeout: o.timeout, Dial: dialOf(client),
		}, nil
	}
	return nil, &ChannelError{Kind: kind, Msg: "unknown kind"}
}

// parseChannel decodes and checks config and secret for kind, returning the config.
func parseChannel(kind string, config json.RawMessage, secret []byte) (any, error) {
	bad := func(field, format string, args ...any) error {
		return &ChannelError{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(config)) == 0 {
		config = json.RawMessage("{}")
	}
	decode := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(config))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			// encoding/json's message names the field or the type, never a value.
			return bad("config", "%v", err)
		}
		return nil
	}
	switch kind {
	case KindWebhook:
		var c WebhookConfig
		if err := decode(&c); err != nil {
			return nil, err
		}
		if err := checkURL(c.URL); err != nil {
			return nil, bad("url", "%s", err)
		}
		if len(secret) == 0 {
			return nil, bad("secret", "a signing secret is required (whsec_ and base64, as Standard Webhooks writes it)")
		}
		if _, err := standardwebhooks.NewWebhook(string(secret)); err != nil {
			return nil, bad("secret", "not a signing secret: whsec_ and base64 of 24 to 64 random bytes")
		}
		return c, nil
	case KindSlack:
		var c SlackConfig
		if err := decode(&c); err != nil {
			return nil, err
		}
		if err := checkURL(strings.TrimSpace(string(secret))); err != nil {
			return nil, bad("secret", "the incoming webhook URL: %s", err)
		}
		return c, nil
	case KindPagerDuty:
		var c PagerDutyConfig
		if err := decode(&c); err != nil {
			return nil, err
		}
		if c.URL != "" {
			if err := checkURL(c.URL); err != nil {
				return nil, bad("url", "%s", err)
			}
		}
		switch c.Severity {
		case "", "critical", "error", "warning", "info":
		default:
			return nil, bad("severity", "must be critical, error, warning or info")
		}
		if key := strings.TrimSpace(string(secret)); key == "" {
			return nil, bad("secret", "the integration's routing key is required")
		} else if len(key) > 128 || strings.ContainsAny(key, " \t\r\n") {
			return nil, bad("secret", "does not look like a routing key")
		}
		return c, nil
	case KindAlertmanager:
		var c AlertmanagerConfig
		if err := decode(&c); err != nil {
			return nil, err
		}
		if err := checkURL(c.URL); err != nil {
			return nil, bad("url", "%s", err)
		}
		if u, _ := url.Parse(c.URL); u.User != nil {
			return nil, bad("url", "no user or password in the URL: give the user as username and the password as the secret")
		}
		if c.AlertName != "" && !validLabelValue(c.AlertName) {
			return nil, bad("alertName", "must be letters, digits and _ (not starting with a digit)")
		}
		return c, nil
	case KindEmail:
		var c EmailConfig
		if err := decode(&c); err != nil {
			return nil, err
		}
		if c.Host == "" || strings.ContainsAny(c.Host, "/: ") {
			return nil, bad("host", "a host name or address is required, without port or scheme")
		}
		if c.Port < 0 || c.Port > 65535 {
			return nil, bad("port", "must be 1 to 65535 (0 is 587)")
		}
		if _, err := mail.ParseAddress(c.From); err != nil {
			return nil, bad("from", "not an email address")
		}
		if len(c.To) == 0 {
			return nil, bad("to", "at least one recipient is required")
		}
		for i, to := range c.To {
			if _, err := mail.ParseAddress(to); err != nil {
				return nil, bad(fmt.Sprintf("to[%d]", i), "not an email address")
			}
		}
		if len(secret) > 0 && c.Username == "" {
			return nil, bad("username", "a password (the secret) needs a username")
		}
		return c, nil
	}
	return nil, &ChannelError{Kind: kind, Msg: fmt.Sprintf("unknown kind: must be one of %s", strings.Join(Kinds, ", "))}
}

// checkURL says what is wrong with a receiver's URL, quoting none of it.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("a URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("does not parse as a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("has no host")
	}
	if u.Fragment != "" {
		return errors.New("must have no fragment")
	}
	return nil
}

// validLabelValue is a Prometheus metric-name-like word, as alertname conventionally is.
func validLabelValue(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// NewChannelClient returns the client channels send through: NewHTTPClient's (no
// redirects, capped bodies, timeout), with every connection checked by the address
// policy clusters are reached under (kubeconfig.Dialer's rule, judged on the address
// really dialled, after name resolution): link-local and cloud metadata addresses never,
// loopback and private ranges only inside allowed. Proxies from the environment are not
// used: they would hide the address.
func NewChannelClient(allowed []netip.Prefix, timeout time.Duration) *http.Client {
	c := NewHTTPClient(timeout)
	t := c.Transport.(capBodies).RoundTripper.(*http.Transport)
	t.Proxy = nil
	t.DialContext = (&kubeconfig.Dialer{Allowed: allowed}).DialContext
	return c
}

// dialOf returns the dial function of a client made by NewChannelClient, so that email
// goes through the same address policy; nil (go-mail's own dialer) for another client.
func dialOf(client *http.Client) func(ctx context.Context, network, address string) (net.Conn, error) {
	if client == nil {
		return nil
	}
	cb, ok := client.Transport.(capBodies)
	if !ok {
		return nil
	}
	t, ok := cb.RoundTripper.(*http.Transport)
	if !ok {
		return nil
	}
	return t.DialContext
}

// refusedAddress reports whether err is a connection the address policy refused.
func refusedAddress(err error) bool {
	var a *kubeconfig.AddressError
	return errors.As(err, &a)
}
