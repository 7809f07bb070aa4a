package notify

import (
	"cmp"
	"context"
	"fmt"
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
	// MaxBody bounds the body of a merged message (SendGroup). Default
	// DefaultWebhookMaxBody.
	MaxBody int
}

// DefaultWebhookMaxBody is the largest body a merged webhook message is given: 1 MiB,
// the request size nginx (in front of many receivers) takes by default. One fleet-wide
// change of 1,000 mutations is about 600 KB.
const DefaultWebhookMaxBody = 1 << 20

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

// SendGroup posts payloads as one merged message (Merge), every event in it by its id.
// A merge whose body would pass MaxBody goes as several, each within it (but for one
// event alone larger), each signed and sent under its first event's id as webhook-id:
// the split depends only on the payloads and their order, which a retry keeps, so that
// a retry sends the same messages under the same ids and the receiver drops the ones it
// has. The first error ends the attempt; its retry sends them all again.
func (w *Webhook) SendGroup(ctx context.Context, ps []Payload) error {
	parts, err := splitGroup(ps, cmp.Or(w.MaxBody, DefaultWebhookMaxBody))
	if err != nil {
		return err
	}
	for _, part := range parts {
		if err := w.Send(ctx, Merge(part)); err != nil {
			return err
		}
	}
	return nil
}

// splitGroup cuts ps, in order, into runs whose merged body is at most limit bytes: each
// run as long as it may be. A payload's size as a grouped event is its own encoding's,
// so the sizes add up exactly: the head's body without grouped, then
// ,"grouped":[…] with a comma between events.
func splitGroup(ps []Payload, limit int) ([][]Payload, error) {
	const groupedField = len(`,"grouped":[]`)
	var parts [][]Payload
	start, size := 0, 0
	for i, p := range ps {
		if i > start {
			g, err := marshalJSON(groupedOf(p))
			if err != nil {
				return nil, fmt.Errorf("encode grouped event %s: %w", p.ID, err)
			}
			add := len(g)
			if i > start+1 {
				add++ // the comma
			}
			if i == start+1 {
				add += groupedField
			}
			if size+add <= limit {
				size += add
				continue
			}
			parts = append(parts, ps[start:i])
			start = i
		}
		head := p
		head.Grouped = nil
		body, err := head.Marshal()
		if err != nil {
			return nil, err
		}
		size = len(body)
	}
	if len(ps) > 0 {
		parts = append(parts, ps[start:])
	}
	return parts, nil
}
