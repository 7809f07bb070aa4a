package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// startAlertmanager runs a real Alertmanager (one instance, no cluster, one receiver
// that sends nowhere) and returns its root URL.
func startAlertmanager(t *testing.T) string {
	bin := receiverBinary(t, "alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	root := "http://" + addr(port)
	startProcess(t, bin, root+"/-/ready",
		"--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr(port), "--cluster.listen-address=")
	return root
}

// gettableAlert is what GET /api/v2/alerts answers of an alert.
type gettableAlert struct {
	Alert
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

// activeAlerts returns the alerts Alertmanager holds active now for mutation id.
func activeAlerts(t *testing.T, root string, id int64) []gettableAlert {
	t.Helper()
	q := url.Values{"active": {"true"}, "filter": {fmt.Sprintf("mutation_id=%q", fmt.Sprint(id))}}
	resp, err := http.Get(root + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %d %v", resp.StatusCode, err)
	}
	return out
}

// waitAlerts waits (at most 10 s) until the alerts of mutation id number n.
func waitAlerts(t *testing.T, root string, id int64, n int) []gettableAlert {
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
	root := startAlertmanager(t)
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
	if !maps.Equal(got.Labels, wantLabels) {
		t.Errorf("labels %v\nwant %v", got.Labels, wantLabels)
	}
	if got.Annotations["summary"] != Title(opened) || got.Annotations["ui_url"] != opened.Links.UI || got.Status.State != "active" && got.Status.State != "unprocessed" {
		t.Errorf("alert %+v", got)
	}
	if !got.StartsAt.Equal(m.DetectedAt) || time.Until(got.EndsAt) < 5*time.Second || time.Until(got.EndsAt) > 9*time.Second {
		t.Errorf("startsAt %v endsAt %v: want the detection, and four repost intervals ahead", got.StartsAt, got.EndsAt)
	}

	// Reposted while open, its end moves ahead.
	time.Sleep(1100 * time.Millisecond)
	if err := am.Repost(ctx, []Payload{opened}); err != nil {
		t.Fatalf("repost: %v", err)
	}
	if again := waitAlerts(t, root, 42, 1)[0]; !again.EndsAt.After(got.EndsAt) {
		t.Errorf("repost left endsAt at %v (was %v)", again.EndsAt, got.EndsAt)
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
	if d := ev.EndsAt.Sub(ev.StartsAt); d != time.Hour || ev.Annotations["description"] != digestA+" → "+digestB {
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
	root := startAlertmanager(t)
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
