package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/receivers"
)

// webhookReceiver is the shared Standard Webhooks receiver (package receivers), its
// messages read as payloads.
type webhookReceiver struct{ *receivers.Webhook }

func newWebhookReceiver(t *testing.T, secret string) (*webhookReceiver, *httptest.Server) {
	w, srv := receivers.NewWebhook(t, secret)
	return &webhookReceiver{w}, srv
}

// unique returns each event taken, by id.
func (r *webhookReceiver) unique(t *testing.T) map[string]Payload {
	t.Helper()
	out := map[string]Payload{}
	for _, m := range r.Messages() {
		var p Payload
		if err := json.Unmarshal(m.Body, &p); err != nil {
			t.Errorf("webhook body does not decode: %v", err)
		}
		out[m.ID] = p
	}
	return out
}

func testSecret() string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-test-secret-of-32-bytes-length"))
}

func TestWebhookSignedRetriedDeduplicated(t *testing.T) {
	secret := testSecret()
	rcv, srv := newWebhookReceiver(t, secret)
	rcv.Fail(http.StatusInternalServerError, http.StatusServiceUnavailable)
	wh := &Webhook{URL: srv.URL + "/hook", Secret: secret}
	p := NewPayload(Event{ID: "evt_0001", Type: MutationOpened, At: at, Mutation: divergence(2)}, PayloadConfig{})

	ctx := context.Background()
	policy := RetryPolicy{Attempts: 5, Base: 10 * time.Millisecond}
	if err := Retry(ctx, policy, func(ctx context.Context) error { return wh.Send(ctx, p) }); err != nil {
		t.Fatalf("send with retries: %v", err)
	}
	// At least once: the outbox may deliver the same event again after a crash.
	if err := wh.Send(ctx, p); err != nil {
		t.Fatalf("send again: %v", err)
	}
	c := rcv.Counts()
	if c.Attempts != 4 || c.Bad != 0 {
		t.Errorf("attempts %d, bad signatures %d; want 4 and 0", c.Attempts, c.Bad)
	}
	for _, id := range c.IDs {
		if id != "evt_0001" {
			t.Errorf("webhook-id %q on a retry, want evt_0001 on every one", id)
		}
	}
	unique := rcv.unique(t)
	got, ok := unique["evt_0001"]
	if len(unique) != 1 || !ok || got.Mutation.ID != 42 || len(got.Digests) != 2 {
		t.Errorf("receiver kept %d events: %+v", len(unique), unique)
	}
}

func TestWebhookFailures(t *testing.T) {
	secret := testSecret()
	p := NewPayload(Event{ID: "evt_2", Type: MutationOpened, At: at, Mutation: divergence(1)}, PayloadConfig{})
	policy := RetryPolicy{Attempts: 4, Base: time.Millisecond}

	t.Run("4xx is not retried", func(t *testing.T) {
		rcv, srv := newWebhookReceiver(t, secret)
		rcv.Fail(http.StatusBadRequest)
		err := Retry(context.Background(), policy, sending(&Webhook{URL: srv.URL, Secret: secret}, p))
		if n := rcv.Counts().Attempts; err == nil || Retryable(err) || n != 1 || err.Error() != "deliver to webhook: status-400" {
			t.Errorf("err %v, attempts %d", err, n)
		}
	})
	t.Run("429 is retried", func(t *testing.T) {
		rcv, srv := newWebhookReceiver(t, secret)
		rcv.Fail(http.StatusTooManyRequests)
		err := Retry(context.Background(), policy, sending(&Webhook{URL: srv.URL, Secret: secret}, p))
		if n := rcv.Counts().Attempts; err != nil || n != 2 || len(rcv.Messages()) != 1 {
			t.Errorf("err %v, attempts %d", err, n)
		}
	})
	t.Run("a wrong secret is refused by the receiver", func(t *testing.T) {
		rcv, srv := newWebhookReceiver(t, secret)
		other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-of-32-bytes-long!"))
		err := (&Webhook{URL: srv.URL, Secret: other}).Send(context.Background(), p)
		if c := rcv.Counts(); err == nil || c.Bad != 1 || len(rcv.Messages()) != 0 {
			t.Errorf("err %v, bad %d", err, c.Bad)
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		rcv, target := newWebhookReceiver(t, secret)
		redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer redirect.Close()
		err := (&Webhook{URL: redirect.URL, Secret: secret}).Send(context.Background(), p)
		if n := rcv.Counts().Attempts; err == nil || Retryable(err) || n != 0 {
			t.Errorf("err %v, attempts at the target %d", err, n)
		}
	})
	t.Run("a hanging receiver times out, retryable, no secret in the error", func(t *testing.T) {
		hang := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
		defer srv.Close()
		defer close(hang)
		wh := &Webhook{URL: srv.URL + "/token-s3cr3t?key=s3cr3t", Secret: secret, Client: NewHTTPClient(100 * time.Millisecond)}
		err := wh.Send(context.Background(), p)
		if err == nil || !Retryable(err) || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("refused connection is retryable, no URL in the error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + "/token-s3cr3t"
		srv.Close()
		err := (&Webhook{URL: url, Secret: secret}).Send(context.Background(), p)
		if err == nil || !Retryable(err) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("err %v", err)
		}
	})
}

// sending adapts a sender's Send of p to Retry.
func sending(s Sender, p Payload) func(context.Context) error {
	return func(ctx context.Context) error { return s.Send(ctx, p) }
}
