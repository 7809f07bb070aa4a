package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestStatusClasses(t *testing.T) {
	tests := []struct {
		code  int
		class string
		retry bool
	}{
		{200, "", false}, {202, "", false}, {204, "", false},
		{301, "redirect-301", false}, {307, "redirect-307", false},
		{400, "status-400", false}, {401, "status-401", false}, {404, "status-404", false}, {410, "status-410", false},
		{429, "status-429", true},
		{500, "status-500", true}, {502, "status-502", true}, {503, "status-503", true}, {504, "status-504", true},
	}
	for _, tt := range tests {
		err := statusError("webhook", &http.Response{StatusCode: tt.code, Header: http.Header{}})
		var e *Error
		if tt.class == "" {
			if err != nil {
				t.Errorf("%d: %v, want none", tt.code, err)
			}
			continue
		}
		if !errors.As(err, &e) || e.Class != tt.class || Retryable(err) != tt.retry {
			t.Errorf("%d: %v (retry %v), want %s retry %v", tt.code, err, Retryable(err), tt.class, tt.retry)
		}
	}
}

func TestHostileReceivers(t *testing.T) {
	p := NewPayload(Event{ID: "evt_h", Type: MutationOpened, At: at, Mutation: divergence(1)}, PayloadConfig{})

	t.Run("an endless answer is not read", func(t *testing.T) {
		var written atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 1<<16))
			for range 1 << 14 { // up to 1 GiB, while the client reads
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		start := time.Now()
		if err := (&Slack{URL: srv.URL}).Send(context.Background(), p); err != nil {
			t.Fatalf("a 200 with a huge body: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		srv.CloseClientConnections()
		if n := written.Load(); n > 64<<20 {
			t.Errorf("the receiver got %d MiB out: the client read on", n>>20)
		}
	})
	t.Run("Retry-After is honoured", func(t *testing.T) {
		var calls atomic.Int32
		var first, second time.Time
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				first = time.Now()
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			second = time.Now()
		}))
		defer srv.Close()
		err := Retry(context.Background(), RetryPolicy{Base: time.Millisecond}, sending(&PagerDuty{RoutingKey: "k", URL: srv.URL}, p))
		if err != nil || calls.Load() != 2 || second.Sub(first) < time.Second {
			t.Errorf("err %v after %d calls, %v apart", err, calls.Load(), second.Sub(first))
		}
	})
	t.Run("a canceled context stops the retries", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		}))
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := Retry(ctx, RetryPolicy{Attempts: 100, Base: 100 * time.Millisecond, Max: 100 * time.Millisecond},
			sending(&Slack{URL: srv.URL}, p))
		if !errors.Is(err, context.DeadlineExceeded) || calls.Load() > 5 {
			t.Errorf("err %v after %d calls", err, calls.Load())
		}
	})
}
