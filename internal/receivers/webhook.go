package receivers

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Webhook is a receiver as the Standard Webhooks specification means one: it verifies
// every delivery's signature with the specification's library (refusing one that does
// not verify with 401), counts the deliveries of each webhook-id, and keeps the body
// of each id once, dropping a repeat as a duplicate.
type Webhook struct {
	verifier *standardwebhooks.Webhook

	mu       sync.Mutex
	fail     []int // statuses to answer first, one per verified request
	attempts int
	bad      int
	ids      []string       // webhook-id of each verified request, refused ones too
	refused  map[string]int // answered a status of fail, by id
	accepted map[string]int // taken, by id
	order    []string       // ids taken, each once, in order
	bodies   map[string][]byte
	at       map[string]time.Time // when each id was first taken
}

// NewWebhook starts a webhook receiver verifying with secret (whsec_…) until the test
// ends.
func NewWebhook(t testing.TB, secret string) (*Webhook, *httptest.Server) {
	t.Helper()
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	w := &Webhook{verifier: v, refused: map[string]int{}, accepted: map[string]int{}, bodies: map[string][]byte{}, at: map[string]time.Time{}}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return w, srv
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if err := h.verifier.Verify(body, r.Header); err != nil {
		h.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	h.ids = append(h.ids, id)
	if len(h.fail) > 0 {
		code := h.fail[0]
		h.fail = h.fail[1:]
		h.refused[id]++
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "secret-looking body the log must not show")
		return
	}
	h.accepted[id]++
	if h.accepted[id] == 1 {
		h.order = append(h.order, id)
		h.bodies[id] = body
		h.at[id] = time.Now()
	}
	w.WriteHeader(http.StatusNoContent)
}

// Fail has the receiver answer these statuses to the next verified requests, one each.
func (h *Webhook) Fail(statuses ...int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = append(h.fail, statuses...)
}

// WebhookCounts is what a Webhook receiver has seen.
type WebhookCounts struct {
	// Attempts counts every request; Bad those whose signature did not verify.
	Attempts, Bad int
	// IDs is the webhook-id of each verified request, in order.
	IDs []string
	// Refused counts, by webhook-id, the requests answered a Fail status; Accepted
	// those taken (more than one is a duplicate, dropped).
	Refused, Accepted map[string]int
}

// Counts returns what the receiver has seen so far.
func (h *Webhook) Counts() WebhookCounts {
	h.mu.Lock()
	defer h.mu.Unlock()
	return WebhookCounts{Attempts: h.attempts, Bad: h.bad, IDs: append([]string(nil), h.ids...),
		Refused: maps.Clone(h.refused), Accepted: maps.Clone(h.accepted)}
}

// Message is one distinct message a receiver took.
type Message struct {
	ID   string // webhook-id
	Body []byte
	At   time.Time // when it was first taken
}

// Messages returns the distinct messages taken, in the order they first arrived.
func (h *Webhook) Messages() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Message, len(h.order))
	for i, id := range h.order {
		out[i] = Message{ID: id, Body: h.bodies[id], At: h.at[id]}
	}
	return out
}
