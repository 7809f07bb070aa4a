package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

func groupPayloads() []notify.Payload {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var ps []notify.Payload
	for i, cluster := range []string{"prod-eu", "prod-us", "prod-ap"} {
		ps = append(ps, notify.Payload{
			ID: "evt_" + cluster, Type: notify.MutationOpened, Timestamp: at,
			Mutation: notify.PayloadMutation{ID: int64(i + 1), Kind: detect.WorkloadDivergence, Cluster: cluster, Ref: "registry.example.com/web:1.4"},
			Links:    notify.Links{UI: "https://tagdrift.example.com/x", API: "https://tagdrift.example.com/api/v1/mutations/1"},
		})
	}
	return ps
}

// A group is one message: the first event, carrying the others by id, type and
// mutation; its text names them all.
func TestMerge(t *testing.T) {
	ps := groupPayloads()
	m := notify.Merge(ps)
	if m.ID != "evt_prod-eu" || len(m.Grouped) != 2 || m.Grouped[0].ID != "evt_prod-us" || m.Grouped[1].Mutation.Cluster != "prod-ap" {
		t.Fatalf("Merge = %+v", m)
	}
	text := notify.Text(m)
	for _, want := range []string{"and 2 more of this reference", "prod-us", "prod-ap"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if one := notify.Merge(ps[:1]); one.Grouped != nil {
		t.Errorf("a group of one carries %v", one.Grouped)
	}
}

// SendGroup sends one request to a webhook or Slack, and one per event to PagerDuty.
func TestSendGroup(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ps := groupPayloads()
	ctx := context.Background()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := len(bodies)
		bodies = nil
		return n
	}

	hook, err := notify.Build("webhook", json.RawMessage(`{"url":"`+srv.URL+`"}`), []byte(testSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.SendGroup(ctx, hook, ps); err != nil || count() != 1 {
		t.Fatalf("webhook group: %v", err)
	}
	slack, err := notify.Build("slack", nil, []byte(srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.SendGroup(ctx, slack, ps); err != nil || count() != 1 {
		t.Fatalf("slack group: %v", err)
	}
	pd, err := notify.Build("pagerduty", json.RawMessage(`{"url":"`+srv.URL+`"}`), []byte("R0UTINGKEY"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.SendGroup(ctx, pd, ps); err != nil || count() != 3 {
		t.Fatalf("pagerduty group: %v", err)
	}
	if notify.MergesMessages(notify.KindPagerDuty) || !notify.MergesMessages(notify.KindWebhook) {
		t.Error("MergesMessages")
	}
}
