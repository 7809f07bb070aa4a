package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/receivers"
)

// amNotification is the part of Alertmanager's webhook notification the test reads.
type amNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// amReceiver keeps the notifications a real Alertmanager sends to its webhook.
type amReceiver struct {
	mu  sync.Mutex
	got []amNotification
}

func (r *amReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var n amNotification
	body, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, n)
	r.mu.Unlock()
}

// wait waits (at most 15 s) for a notification whose status is status, and returns it.
func (r *amReceiver) wait(t *testing.T, status string) amNotification {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		for i, n := range r.got {
			if n.Status == status {
				r.got = r.got[i+1:]
				r.mu.Unlock()
				return n
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s notification from Alertmanager within 15 s", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A real Alertmanager: the alert fires when the mutation opens, ends when it is
// acknowledged (its receiver told resolved, with the state annotation saying who, until
// when and why), and fires again when the acknowledgement ends.
func TestAlertmanagerAcknowledged(t *testing.T) {
	rcv := &amReceiver{}
	hook := httptest.NewServer(rcv)
	t.Cleanup(hook.Close)
	root := receivers.StartAlertmanager(t, fmt.Sprintf(`route:
  receiver: hook
  group_by: [mutation_id]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s/
        send_resolved: true
`, hook.URL))
	ctx := context.Background()
	am := &Alertmanager{URL: root, RepostInterval: 10 * time.Second}
	cfg := PayloadConfig{BaseURL: "https://td.example"}
	m := divergence(1)
	m.DetectedAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)

	if err := am.Send(ctx, NewPayload(Event{ID: "e1", Type: MutationOpened, At: m.DetectedAt, Mutation: m}, cfg)); err != nil {
		t.Fatalf("send opened: %v", err)
	}
	waitAlerts(t, root, 42, 1)
	if n := rcv.wait(t, "firing"); len(n.Alerts) != 1 || n.Alerts[0].Labels["mutation_id"] != "42" {
		t.Fatalf("firing notification %+v", n)
	}

	ack := ackOf()
	ack.Reason = "rolling out 1.25.3"
	acked := NewPayload(Event{ID: "e2", Type: MutationAcknowledged, At: time.Now().UTC(), Mutation: m, Acknowledgement: ack}, cfg)
	if err := am.Send(ctx, acked); err != nil {
		t.Fatalf("send acknowledged: %v", err)
	}
	t0 := time.Now()
	waitAlerts(t, root, 42, 0)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("the acknowledged alert left after %v: it ended by timeout, not by the acknowledgement", d)
	}
	n := rcv.wait(t, "resolved")
	want := "acknowledged by user:viewer until it resolves, 2026-12-08 12:00 UTC at the latest: rolling out 1.25.3"
	if len(n.Alerts) != 1 || n.Alerts[0].Status != "resolved" || n.Alerts[0].Annotations["state"] != want ||
		n.Alerts[0].Annotations["event_type"] != "mutation.acknowledged" {
		t.Errorf("resolved notification %+v\nwant the state annotation %q", n, want)
	}

	// The acknowledgement ends while the mutation is still there: it fires again.
	again := NewPayload(Event{ID: "e3", Type: MutationOpened, Reason: ReasonAcknowledgementEnded, At: time.Now().UTC(), Mutation: m}, cfg)
	if err := am.Send(ctx, again); err != nil {
		t.Fatalf("send opened again: %v", err)
	}
	got := waitAlerts(t, root, 42, 1)[0]
	if got.Annotations["reason"] != "acknowledgement-ended" || !strings.HasPrefix(got.Annotations["summary"], "Mutation open again") {
		t.Errorf("alert again %+v", got.Annotations)
	}
	if n := rcv.wait(t, "firing"); len(n.Alerts) != 1 || n.Alerts[0].Annotations["reason"] != "acknowledgement-ended" {
		t.Errorf("firing again %+v", n)
	}
}

// A real Mailpit receives the acknowledgement as one readable message.
func TestEmailAcknowledged(t *testing.T) {
	mp := startMailpit(t, "tagdrift", "pa55word")
	e := &Email{Host: "127.0.0.1", Port: mp.SMTPPort, Username: "tagdrift", Password: "pa55word",
		From: "tagdrift@example.com", To: []string{"platform@example.com"}}
	e.TLSConfig = &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, RootCAs: mp.Roots}
	p := acknowledged(PayloadConfig{BaseURL: "https://td.example"})
	if err := e.Send(context.Background(), p); err != nil {
		t.Fatalf("send: %v", err)
	}
	list := mp.Messages(t)
	if list.Total != 1 || list.Messages[0].Subject != ackTitle || list.Messages[0].MessageID != "evt_ack@tagdrift" {
		t.Fatalf("mailpit holds %+v", list)
	}
	text := mp.Text(t, list.Messages[0].ID)
	for _, want := range []string{ackTitle + "\r\n\r\n" + ackLine, "approved by user:admin", "ticket: https://tickets.example/OPS-7",
		"UI: https://td.example/workloads/prod/shop/Deployment/web"} {
		if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), strings.ReplaceAll(want, "\r\n", "\n")) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
	if h := mp.Headers(t, list.Messages[0].ID)["X-Tagdrift-Event"]; len(h) != 1 || h[0] != "mutation.acknowledged" {
		t.Errorf("X-Tagdrift-Event %q", h)
	}
}
