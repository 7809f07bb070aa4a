package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestValidateChannel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   string
		config string
		secret string
		want   string // "" is valid; else a part of the error
	}{
		{"webhook", "webhook", `{"url":"https://hooks.example.com/x"}`, testSecret, ""},
		{"webhook without url", "webhook", `{}`, testSecret, "url: a URL is required"},
		{"webhook ftp", "webhook", `{"url":"ftp://example.com"}`, testSecret, "must be http or https"},
		{"webhook without secret", "webhook", `{"url":"https://example.com"}`, "", "signing secret is required"},
		{"webhook bad secret", "webhook", `{"url":"https://example.com"}`, "hunter2", "not a signing secret"},
		{"unknown field", "webhook", `{"url":"https://example.com","uri":"x"}`, testSecret, "unknown field"},
		{"slack", "slack", ``, "https://hooks.slack.com/services/T/B/secret", ""},
		{"slack no url", "slack", `{}`, "", "incoming webhook URL"},
		{"pagerduty", "pagerduty", `{"severity":"critical"}`, "R0UTINGKEY", ""},
		{"pagerduty severity", "pagerduty", `{"severity":"huge"}`, "R0UTINGKEY", "severity"},
		{"pagerduty no key", "pagerduty", `{}`, "", "routing key is required"},
		{"alertmanager", "alertmanager", `{"url":"http://am:9093"}`, "", ""},
		{"alertmanager userinfo", "alertmanager", `{"url":"http://u:p@am:9093"}`, "", "no user or password"},
		{"alertmanager alertname", "alertmanager", `{"url":"http://am:9093","alertName":"bad name"}`, "", "alertName"},
		{"email", "email", `{"host":"smtp.example.com","from":"td@example.com","to":["ops@example.com"],"username":"td"}`, "pw", ""},
		{"email no to", "email", `{"host":"smtp.example.com","from":"td@example.com"}`, "", "to: at least one"},
		{"email bad to", "email", `{"host":"smtp.example.com","from":"td@example.com","to":["nope"]}`, "", "to[0]"},
		{"email host with port", "email", `{"host":"smtp.example.com:25","from":"td@example.com","to":["a@b.c"]}`, "", "host"},
		{"email password without user", "email", `{"host":"smtp.example.com","from":"td@example.com","to":["a@b.c"]}`, "pw", "username"},
		{"unknown kind", "carrier-pigeon", `{}`, "", "unknown kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.ValidateChannel(tc.kind, json.RawMessage(tc.config), []byte(tc.secret))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidateChannel: %v", err)
				}
				s, err := notify.Build(tc.kind, json.RawMessage(tc.config), []byte(tc.secret), nil)
				if err != nil || s == nil {
					t.Fatalf("Build: %v, %v", s, err)
				}
				return
			}
			var ce *notify.ChannelError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateChannel = %v, want a ChannelError with %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q quotes the secret", err)
			}
			if _, err := notify.Build(tc.kind, json.RawMessage(tc.config), []byte(tc.secret), nil); err == nil {
				t.Error("Build accepted what ValidateChannel refused")
			}
		})
	}
}

// A channel's sender goes through the address policy: a receiver on loopback is
// refused (not retried) unless the operator allows loopback.
func TestChannelAddressPolicy(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	cfg := json.RawMessage(`{"url":"` + srv.URL + `/hook"}`)
	p := notify.Payload{ID: "evt_1", Type: notify.MutationOpened, Timestamp: time.Now()}
	ctx := context.Background()

	refused, err := notify.Build("webhook", cfg, []byte(testSecret), notify.NewChannelClient(nil, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = refused.Send(ctx, p)
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Class != "forbidden-address" || notify.Retryable(err) {
		t.Fatalf("send to loopback without allowing it = %v, want forbidden-address, not retryable", err)
	}
	if strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q quotes the URL", err)
	}

	am, err := notify.Build("alertmanager", json.RawMessage(`{"url":"`+srv.URL+`"}`), nil, notify.NewChannelClient(nil, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := am.Send(ctx, p); !errors.As(err, &ne) || ne.Class != "forbidden-address" {
		t.Errorf("alertmanager to loopback = %v, want forbidden-address", err)
	}
	email, err := notify.Build("email", json.RawMessage(`{"host":"127.0.0.1","port":1,"from":"a@b.c","to":["d@e.f"],"plain":true}`),
		nil, notify.NewChannelClient(nil, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := email.Send(ctx, p); !errors.As(err, &ne) || ne.Class != "forbidden-address" {
		t.Errorf("email to loopback = %v, want forbidden-address", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver got %d requests through a refusing policy", hits.Load())
	}

	allowed, err := notify.Build("webhook", cfg, []byte(testSecret),
		notify.NewChannelClient([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := allowed.Send(ctx, p); err != nil {
		t.Fatalf("send with loopback allowed: %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("receiver got %d requests, want 1", hits.Load())
	}
}
