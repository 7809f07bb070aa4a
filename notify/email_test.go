package notify

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/receivers"
)

// startMailpit runs a real Mailpit that requires STARTTLS (with a certificate made for
// 127.0.0.1) and authentication as user/password.
func startMailpit(t *testing.T, user, password string) receivers.Mailpit {
	return receivers.StartMailpit(t, receivers.MailpitOptions{TLS: true, User: user, Password: password})
}

func TestEmail(t *testing.T) {
	mp := startMailpit(t, "tagdrift", "pa55word")
	ctx := context.Background()
	email := func(password string, roots bool) *Email {
		e := &Email{
			Host: "127.0.0.1", Port: mp.SMTPPort, Username: "tagdrift", Password: password,
			From: "tagdrift@example.com", To: []string{"platform@example.com", "security@example.com"},
			TLSConfig: &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		}
		if roots {
			e.TLSConfig.RootCAs = mp.Roots
		}
		return e
	}
	p := NewPayload(Event{ID: "evt_6", Type: MutationOpened, At: at, Mutation: divergence(7)}, PayloadConfig{BaseURL: "https://td.example"})
	if err := Retry(ctx, RetryPolicy{Base: time.Millisecond}, sending(email("pa55word", true), p)); err != nil {
		t.Fatalf("send: %v", err)
	}

	list := mp.Messages(t)
	if list.Total != 1 || len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1: %+v", list.Total, list)
	}
	got := list.Messages[0]
	if got.Subject != Title(p) || got.MessageID != "evt_6@tagdrift" || len(got.To) != 2 || got.To[1].Address != "security@example.com" {
		t.Errorf("message %+v", got)
	}
	text := mp.Text(t, got.ID)
	for _, want := range []string{
		digestA + " on prod/shop/web-a (app)",
		digestB + " on prod/shop/web-b0 (app), prod/shop/web-b1 (app), prod/shop/web-b2 (app), prod/shop/web-b3 (app), prod/shop/web-b4 (app), and 2 more",
		"UI: https://td.example/workloads/prod/shop/Deployment/web",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
	if h := mp.Headers(t, got.ID)["X-Tagdrift-Event"]; len(h) != 1 || h[0] != "mutation.opened" {
		t.Errorf("X-Tagdrift-Event %q", h)
	}

	t.Run("a refused password is not retried nor quoted", func(t *testing.T) {
		err := email("wr0ngpass", true).Send(ctx, p)
		t.Logf("wrong password: %v", err)
		if err == nil || Retryable(err) || strings.Contains(err.Error(), "wr0ngpass") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("an untrusted certificate fails, not retried", func(t *testing.T) {
		err := email("pa55word", false).Send(ctx, p)
		t.Logf("untrusted: %v", err)
		if err == nil || Retryable(err) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a server down is retryable", func(t *testing.T) {
		e := email("pa55word", true)
		e.Port = receivers.FreePort(t)
		if err := e.Send(ctx, p); err == nil || !Retryable(err) {
			t.Errorf("err %v", err)
		}
	})
	if list := mp.Messages(t); list.Total != 1 {
		t.Errorf("mailpit holds %d messages after the failures, want still 1", list.Total)
	}
}
