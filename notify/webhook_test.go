package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// webhookReceiver is a receiver as the specification means one: it verifies every
// delivery with the Standard Webhooks library and keeps each webhook-id once.
type webhookReceiver struct {
	t        *testing.T
	verifier *standardwebhooks.Webhook
	mu       sync.Mutex
	fail     []int // statuses to answer first, one per delivery
	attempts int
	ids      []string // webhook-id of each verified attempt
	unique   map[string]Payload
	bad      int
}

func newWebhookReceiver(t *testing.T, secret string) (*webhookReceiver, *httptest.Server) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &webhookReceiver{t: t, verifier: v, unique: map[string]Payload{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if err := r.verifier.Verify(body, req.Header); err != nil {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("webhook-id")
	r.ids = append(r.ids, id)
	if len(r.fail) > 0 {
		code := r.fail[0]
		r.fail = r.fail[1:]
		w.WriteHeader(code)
		return
	}
	if _, dup := r.unique[id]; dup {
		w.WriteHeader(http.StatusNoContent) // a duplicate is acknowledged and dropped
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("webhook body does not decode: %v", err)
	}
	r.unique[id] = p
	w.WriteHeader(http.StatusNoContent)
}

func testSecret() string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-test-secret-of-32-bytes-length"))
}

func TestWebhookSignedRetriedDeduplicated(t *testing.T) {
	secret := testSecret()
	rcv, srv := newWebhookReceiver(t, secret)
	rcv.fail = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}
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
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.attempts != 4 || rcv.bad != 0 {
		t.Errorf("attempts %d, bad signatures %d; want 4 and 0", rcv.attempts, rcv.bad)
	}
	for _, id := range rcv.ids {
		if id != "evt_0001" {
			t.Errorf("webhook-id %q on a retry, want evt_0001 on every one", id)
		}
	}
	got, ok := rcv.unique["evt_0001"]
	if len(rcv.unique) != 1 || !ok || got.Mutation.ID != 42 || len(got.Digests) != 2 {
		t.Errorf("receiver kept %d events: %+v", len(rcv.unique), rcv.unique)
	}
}

func TestWebhookFailures(t *testing.T) {
	secret := testSecret()
	p := NewPayload(Event{ID: "evt_2", Type: MutationOpened, At: at, Mutation: divergence(1)}, PayloadConfig{})
	policy := RetryPolicy{Attempts: 4, Base: time.Millisecond}

	t.Run("4xx is not retried", func(t *testing.T) {
		rcv, srv := newWebhookReceiver(t, secret)
		rcv.fail = []int{http.StatusBadRequest}
		err := Retry(context.Background(), policy, sending(&Webhook{URL: srv.URL, Secret: secret}, p))
		if err == nil || Retryable(err) || rcv.attempts != 1 || err.Error() != "deliver to webhook: status-400" {
			t.Errorf("err %v, attempts %d", err, rcv.attempts)
		}
	})
	t.Run("429 is retried", func(t *testing.T) {
		rcv, srv := newWebhookReceiver(t, secret)
		rcv.fail = []int{http.StatusTooManyRequests}
		err := Retry(context.Background(), policy, sending(&Webhook{URL: srv.URL, Secret: secret}, p))
		if err != nil || rcv.attempts != 2 || len(rcv.unique) != 1 {
			t.Errorf("err %v, attempts %d", err, rcv.attempts)
		}
	})
	t.Run("a wrong secret is refused by the receiver", func(t *testing.T) {
		rcv, srv := newWebhookReceiver(t, secret)
		other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-of-32-bytes-long!"))
		err := (&Webhook{URL: srv.URL, Secret: other}).Send(context.Background(), p)
		if err == nil || rcv.bad != 1 || len(rcv.unique) != 0 {
			t.Errorf("err %v, bad %d", err, rcv.bad)
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		rcv, target := newWebhookReceiver(t, secret)
		redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer redirect.Close()
		err := (&Webhook{URL: redirect.URL, Secret: secret}).Send(context.Background(), p)
		if err == nil || Retryable(err) || rcv.attempts != 0 {
			t.Errorf("err %v, attempts at the target %d", err, rcv.attempts)
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
