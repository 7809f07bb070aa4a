package notify

import (
	"context"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Webhook posts the payload as it is, signed per the Standard Webhooks specification:
// webhook-id is the event's id (the same on every retry, so that a receiver drops
// duplicates by it), webhook-timestamp the attempt's time, webhook-signature the HMAC
// of both and the body under the channel's secret.
type Webhook struct {
	// URL is the receiver's endpoint.
	URL string
	// Secret is the signing secret, whsec_ and base64 as the specification writes it.
	Secret string
	// Client sends; nil is NewHTTPClient's.
	Client *http.Client
	// Now is the clock of webhook-timestamp; nil is time.Now.
	Now func() time.Time
}

// Send posts p once.
func (w *Webhook) Send(ctx context.Context, p Payload) error {
	signer, err := standardwebhooks.NewWebhook(w.Secret)
	if err != nil {
		// The library's message quotes nothing of the secret, but say it in our words.
		return &Error{Channel: "webhook", Class: "bad-secret"}
	}
	body, err := p.Marshal()
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now()
	sig, err := signer.Sign(p.ID, ts, body)
	if err != nil {
		return &Error{Channel: "webhook", Class: "sign"}
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, p.ID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return post(ctx, clientOr(w.Client), "webhook", w.URL, h, body)
}

// clientOr returns c, or a default client when nil.
func clientOr(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return NewHTTPClient(0)
}
