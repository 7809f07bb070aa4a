package notify

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

// activeAlerts returns the alerts Alertmanager holds active now for mutation id, read
// with its own client.
func activeAlerts(t *testing.T, root string, id int64) []*models.GettableAlert {
	t.Helper()
	api, err := (&Alertmanager{URL: root}).api()
	if err != nil {
		t.Fatal(err)
	}
	active := true
	ok, err := api.Alert.GetAlerts(alert.NewGetAlertsParams().WithActive(&active).WithFilter([]string{fmt.Sprintf("mutation_id=%q", fmt.Sprint(id))}))
	if err != nil {
		t.Fatalf("GET alerts: %v", err)
	}
	return ok.Payload
}

// waitAlerts waits (at most 10 s) until the alerts of mutation id number n.
func waitAlerts(t *testing.T, root string, id int64, n int) []*models.GettableAlert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := activeAlerts(t, root, id)
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("mutation %d: %d active alerts, want %d: %+v", id, len(got), n, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAlertmanager(t *testing.T) {
	t0 := time.Now()
	root := receivers.StartAlertmanager(t, "")
	t.Logf("alertmanager ready in %v", time.Since(t0))
	ctx := context.Background()
	am := &Alertmanager{URL: root, RepostInterval: 2 * time.Second}
	cfg := PayloadConfig{BaseURL: "https://td.example"}

	m := divergence(1)
	m.DetectedAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	opened := NewPayload(Event{ID: "e1", Type: MutationOpened, At: m.DetectedAt, Group: "prod-eu", Mutation: m}, cfg)
	if err := am.Send(ctx, opened); err != nil {
		t.Fatalf("send opened: %v", err)
	}
	got := waitAlerts(t, root, 42, 1)[0]
	wantLabels := map[string]string{
		"alertname": "TagdriftMutation", "mutation_id": "42", "kind": "workload-divergence", "group": "prod-eu",
		"cluster": "prod", "namespace": "shop", "workload": "Deployment/web", "container": "app",
		"reference": "docker.io/library/nginx:1.25",
	}
	if !maps.Equal(map[string]string(got.Labels), wantLabels) {
		t.Errorf("labels %v\nwant %v", got.Labels, wantLabels)
	}
	if got.Annotations["summary"] != Title(opened) || got.Annotations["ui_url"] != opened.Links.UI || *got.Status.State != "active" && *got.Status.State != "unprocessed" {
		t.Errorf("alert %+v", got)
	}
	startsAt, endsAt := time.Time(*got.StartsAt), time.Time(*got.EndsAt)
	if !startsAt.Equal(m.DetectedAt) || time.Until(endsAt) < 5*time.Second || time.Until(endsAt) > 9*time.Second {
		t.Errorf("startsAt %v endsAt %v: want the detection, and four repost intervals ahead", got.StartsAt, got.EndsAt)
	}

	// Reposted while open, its end moves ahead.
	time.Sleep(1100 * time.Millisecond)
	if err := am.Repost(ctx, []Payload{opened}); err != nil {
		t.Fatalf("repost: %v", err)
	}
	if again := waitAlerts(t, root, 42, 1)[0]; !time.Time(*again.EndsAt).After(endsAt) {
		t.Errorf("repost left endsAt at %v (was %v)", again.EndsAt, endsAt)
	}

	// Resolved: endsAt is its resolution, and Alertmanager no longer holds it active (at
	// once: the labels, the group's included, are those of the alert that fired).
	resolvedAt := time.Now().UTC()
	m.ResolvedAt = &resolvedAt
	resolved := NewPayload(Event{ID: "e2", Type: MutationResolved, Reason: ReasonClusterDeleted, At: resolvedAt, Group: "prod-eu", Mutation: m}, cfg)
	if err := am.Send(ctx, resolved); err != nil {
		t.Fatalf("send resolved: %v", err)
	}
	t0 = time.Now()
	waitAlerts(t, root, 42, 0)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("the resolved alert left after %v: it ended by timeout, not by its resolution", d)
	}

	// A recorded tag move fires for EventTTL, ending by itself.
	moved := Mutation{ID: 43, DetectedAt: time.Now().UTC(), Mutation: detect.Mutation{
		Kind: detect.TagMoved, Cluster: "prod", Namespace: "shop", Workload: web, Container: "app",
		Ref: "docker.io/library/nginx:1.25", Digests: []string{digestA, digestB},
	}}
	moved.ResolvedAt = &moved.DetectedAt
	event := NewPayload(Event{ID: "e3", Type: EventRecorded, At: moved.DetectedAt, Mutation: moved}, cfg)
	if err := am.Send(ctx, event); err != nil {
		t.Fatalf("send event: %v", err)
	}
	ev := waitAlerts(t, root, 43, 1)[0]
	if d := time.Time(*ev.EndsAt).Sub(time.Time(*ev.StartsAt)); d != time.Hour || ev.Annotations["description"] != digestA+" → "+digestB {
		t.Errorf("event alert lasts %v, want 1h; annotations %v", d, ev.Annotations)
	}

	// An open alert no one reposts (tagdrift gone) ends by itself.
	short := &Alertmanager{URL: root, RepostInterval: 250 * time.Millisecond}
	other := divergence(1)
	other.ID = 44
	if err := short.Send(ctx, NewPayload(Event{ID: "e4", Type: MutationOpened, At: time.Now(), Mutation: other}, cfg)); err != nil {
		t.Fatal(err)
	}
	waitAlerts(t, root, 44, 1)
	time.Sleep(1100 * time.Millisecond)
	waitAlerts(t, root, 44, 0)
}

func TestAlertmanagerRefusesBadAlert(t *testing.T) {
	root := receivers.StartAlertmanager(t, "")
	// An alert whose end is before its start is refused with 400: not retried.
	am := &Alertmanager{URL: root}
	m := divergence(1)
	m.DetectedAt = time.Now().Add(time.Hour)
	past := time.Now().Add(-time.Hour)
	m.ResolvedAt = &past
	err := Retry(context.Background(), RetryPolicy{Base: 1},
		sending(am, NewPayload(Event{ID: "e", Type: MutationResolved, At: past, Mutation: m}, PayloadConfig{})))
	if err == nil || Retryable(err) || err.Error() != "deliver to alertmanager: status-400" {
		t.Errorf("err %v", err)
	}
}

func TestAlertmanagerErrorClasses(t *testing.T) {
	p := NewPayload(Event{ID: "e", Type: MutationOpened, At: at, Mutation: divergence(1)}, PayloadConfig{})
	for _, tt := range []struct {
		code  int
		class string
		retry bool
	}{
		{http.StatusServiceUnavailable, "status-503", true},
		{http.StatusTooManyRequests, "status-429", true},
		{http.StatusInternalServerError, "status-500", true},
		{http.StatusTemporaryRedirect, "redirect-307", false},
		{http.StatusUnauthorized, "status-401", false},
	} {
		var gotAuth string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotAuth = r.Header.Get("Authorization")
			if r.URL.Path != "/prefix/api/v2/alerts" {
				t.Errorf("path %s", r.URL.Path)
			}
			if tt.code == http.StatusTemporaryRedirect {
				w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			}
			w.WriteHeader(tt.code)
		}))
		url := strings.Replace(srv.URL, "http://", "http://am:s3cr3t@", 1) + "/prefix"
		err := (&Alertmanager{URL: url}).Send(context.Background(), p)
		srv.Close()
		if err == nil || err.Error() != "deliver to alertmanager: "+tt.class || Retryable(err) != tt.retry {
			t.Errorf("%d: %v (retry %v), want %s", tt.code, err, Retryable(err), tt.class)
		}
		if gotAuth != "Basic YW06czNjcjN0" {
			t.Errorf("%d: Authorization %q, want the URL's user and password", tt.code, gotAuth)
		}
	}
}
