package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// newDeliveries starts a scheduler that delivers (and, with a long tick, scans
// nothing of note) on st.
func newDeliveries(t *testing.T, st *store.Store, reg prometheus.Registerer) *Scheduler {
	t.Helper()
	return startDelivering(t, st, reg, DeliveryConfig{AttemptTimeout: 2 * time.Second,
		MaxAttempts: 4, RetryBase: 200 * time.Millisecond, Concurrency: 1, RepostInterval: time.Hour})
}

// startDelivering starts a scheduler that delivers with d (its client, when nil, one
// that reaches loopback) and scans nothing of note, until the test ends; reg, when not
// nil, takes its metrics.
func startDelivering(t testing.TB, st *store.Store, reg prometheus.Registerer, d DeliveryConfig) *Scheduler {
	t.Helper()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if d.Client == nil {
		d.Client = notify.NewChannelClient(loopback, cmp.Or(d.AttemptTimeout, 2*time.Second))
	}
	cfg := Config{Store: st, Dialer: &kubeconfig.Dialer{Allowed: loopback}, Tick: time.Hour, Deliveries: &d}
	if reg != nil {
		cfg.Metrics = NewMetrics(reg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.SetOutbox(store.Outbox{Jobs: s.InsertDeliveries})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool, explain ...func()) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			for _, e := range explain {
				e()
			}
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func payloadJSON(t *testing.T, typ notify.Type, mutation int64, ref string) json.RawMessage {
	t.Helper()
	p := notify.Payload{Type: typ, Timestamp: time.Now().UTC(), Mutation: notify.PayloadMutation{ID: mutation, Ref: ref, Kind: "tag-divergence", Digests: []string{}}}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Deliveries reach a webhook receiver that verifies each signature: three events of
// one reference due together go as one message; a receiver answering 500 gets the same
// message again, under the same webhook-id, until it takes it; one answering 400 is
// not retried and the delivery is failed. The delivery log says so in tagdrift's words.
func TestDeliveries(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	recv, srv := receivers.NewWebhook(t, hookSecret)
	recv.Fail(http.StatusInternalServerError, http.StatusInternalServerError)
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "hook", Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + srv.URL + `/hook"}`), Secret: []byte(hookSecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := newDeliveries(t, st, reg)

	now := time.Now()
	var events []store.OutboxEvent
	for i, typ := range []notify.Type{notify.MutationOpened, notify.MutationOpened, notify.MutationResolved} {
		events = append(events, store.OutboxEvent{
			Type: string(typ), Payload: payloadJSON(t, typ, int64(i+1), "registry.example.com/web:1"), PayloadVersion: notify.PayloadVersion,
			At: now, GroupKey: "registry.example.com/web:1", Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: now}},
		})
	}
	if _, err := st.EnqueueNotifications(ctx, events, s.InsertDeliveries); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one merged message delivered", 45*time.Second, func() bool {
		return len(recv.Messages()) == 1
	}, func() {
		c := recv.Counts()
		t.Logf("receiver: %d requests, taken by id %v", c.Attempts, c.Accepted)
		log, _ := st.DeliveryLog(ctx, ch.ID, 10)
		for _, d := range log {
			t.Logf("delivery %d %s attempts %d error %q merged into %d", d.ID, d.Status, d.Attempts, d.LastError, d.MergedInto)
		}
		rows, _ := st.Pool().Query(ctx, `SELECT id, state, attempt, scheduled_at, errors::text FROM river_job WHERE kind = 'deliver-notification'`)
		for rows.Next() {
			var id int64
			var state string
			var attempt int
			var at time.Time
			var errs *string
			rows.Scan(&id, &state, &attempt, &at, &errs)
			t.Logf("job %d %s attempt %d at %s errors %v", id, state, attempt, at, errs)
		}
		rows.Close()
	})
	time.Sleep(500 * time.Millisecond) // anything more would show now
	c := recv.Counts()
	if c.Attempts != 3 || c.Bad != 0 || len(c.Accepted) != 1 {
		t.Fatalf("receiver saw %d requests (%d bad), taken by id %v; want 2 refused and 1 message", c.Attempts, c.Bad, c.Accepted)
	}
	for _, m := range recv.Messages() {
		var p notify.Payload
		if err := json.Unmarshal(m.Body, &p); err != nil || p.ID != m.ID {
			t.Errorf("payload %s: id %q, %v", m.Body, p.ID, err)
		}
		if len(p.Grouped) != 2 || p.Grouped[0].ID == m.ID || p.Grouped[1].Type != notify.MutationResolved {
			t.Errorf("message %s carries %+v, want the two other events", m.ID, p.Grouped)
		}
	}
	log, err := st.DeliveryLog(ctx, ch.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range log {
		if d.Status != store.DeliveryDelivered || d.Attempts != 3 || d.DeliveredAt == nil {
			t.Errorf("delivery %d: %s after %d attempts (%s), want delivered after 3", d.ID, d.Status, d.Attempts, d.LastError)
		}
	}
	if got := testutil.ToFloat64(s.cfg.Metrics.deliveries.WithLabelValues("hook", "retry")); got != 6 {
		t.Errorf("retries counted %v, want 6 (3 deliveries, 2 attempts)", got)
	}
	if got := testutil.ToFloat64(s.cfg.Metrics.deliveries.WithLabelValues("hook", "delivered")); got != 3 {
		t.Errorf("delivered counted %v, want 3", got)
	}

	// A receiver that refuses for good (400): one attempt, failed, nothing of its body.
	recv.Fail(http.StatusBadRequest)
	if _, err := st.EnqueueNotifications(ctx, []store.OutboxEvent{{
		Type: string(notify.MutationOpened), Payload: payloadJSON(t, notify.MutationOpened, 9, "other:1"), PayloadVersion: notify.PayloadVersion,
		At: time.Now(), GroupKey: "other:1", Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: time.Now()}},
	}}, s.InsertDeliveries); err != nil {
		t.Fatal(err)
	}
	var failed store.Delivery
	waitFor(t, "the refused delivery failed", 20*time.Second, func() bool {
		log, err := st.DeliveryLog(ctx, ch.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		failed = log[0]
		return failed.Status == store.DeliveryFailed
	})
	if failed.Attempts != 1 || failed.LastError != "status-400" || strings.Contains(failed.LastError, "secret") {
		t.Errorf("failed delivery: %d attempts, error %q", failed.Attempts, failed.LastError)
	}
	if got := testutil.ToFloat64(s.cfg.Metrics.deliveries.WithLabelValues("hook", "failed")); got != 1 {
		t.Errorf("failed counted %v, want 1", got)
	}
}

// A delivery whose receiver keeps failing is given up after MaxAttempts and failed.
func TestDeliveryGivesUp(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore("n", new(int))
		*n.(*int)++
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "down", Kind: store.ChannelSlack, Secret: []byte(srv.URL + "/services/x"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s := newDeliveries(t, st, prometheus.NewRegistry())
	if _, err := st.EnqueueNotifications(ctx, []store.OutboxEvent{{
		Type: string(notify.MutationOpened), Payload: payloadJSON(t, notify.MutationOpened, 1, "x:1"), PayloadVersion: notify.PayloadVersion,
		At: time.Now(), Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: time.Now()}},
	}}, s.InsertDeliveries); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery failed", 30*time.Second, func() bool {
		log, err := st.DeliveryLog(ctx, ch.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		return log[0].Status == store.DeliveryFailed
	})
	log, _ := st.DeliveryLog(ctx, ch.ID, 1)
	if log[0].Attempts != 4 || log[0].LastError != "status-503" {
		t.Errorf("gave up after %d attempts with %q, want 4 and status-503", log[0].Attempts, log[0].LastError)
	}
}

// activeAlerts lists the active alerts of mutation id in the Alertmanager at root.
func activeAlerts(t *testing.T, root string, id int64) []receivers.Alert {
	t.Helper()
	return receivers.ActiveAlerts(t, root, fmt.Sprintf(`mutation_id="%d"`, id))
}

// A mutation opened by a scan fires in a real Alertmanager, stays firing past its
// first endsAt because it is posted again while open, and ends when it resolves.
func TestAlertmanagerFiringThenResolved(t *testing.T) {
	root := receivers.StartAlertmanager(t, "")
	st := newStore(t)
	ctx := context.Background()
	c, err := st.CreateCluster(ctx, store.NewCluster{Name: "prod", Server: "https://prod.example:6443", Context: "prod",
		Credentials: []byte(`{}`), ScanInterval: time.Hour, Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "am", Kind: store.ChannelAlertmanager,
		Config: json.RawMessage(`{"url":"` + root + `"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: ch.ID, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	startDelivering(t, st, nil, DeliveryConfig{RepostInterval: time.Second, RetryBase: 200 * time.Millisecond})

	pod := func(name, uid, letter string) inventory.Pod {
		ref := imageref.ParseRef("registry.example.com/web:1")
		id, _ := imageref.ParseImageID("registry.example.com/web@sha256:" + strings.Repeat(letter, 64))
		return inventory.Pod{Cluster: "prod", Namespace: "shop", Name: name, UID: types.UID(uid),
			Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
			Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
			Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}}}
	}
	scan := func(pods ...inventory.Pod) {
		t.Helper()
		id, err := st.StartScan(ctx, c.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteScan(ctx, id, pods, len(pods), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	scan(pod("a", "u1", "a"), pod("b", "u2", "b"))
	open, err := st.ListMutations(ctx, store.MutationFilter{})
	if err != nil || len(open) != 1 {
		t.Fatalf("open mutations: %+v, %v", open, err)
	}
	id := open[0].ID
	waitFor(t, "the alert fires", 30*time.Second, func() bool { return len(activeAlerts(t, root, id)) == 1 })
	first := activeAlerts(t, root, id)[0]
	if first.Labels["kind"] != "workload-divergence" || first.Labels["cluster"] != "prod" || first.Labels["workload"] != "Deployment/web" {
		t.Errorf("alert labels %v", first.Labels)
	}
	// Posted again while open: still active past the endsAt it was first given.
	time.Sleep(time.Until(first.EndsAt) + 2*time.Second)
	if got := activeAlerts(t, root, id); len(got) != 1 || !got[0].EndsAt.After(first.EndsAt) {
		t.Fatalf("after its first endsAt: %+v, want it re-posted and active", got)
	}
	scan(pod("a", "u1", "a"), pod("b2", "u3", "a")) // converged
	waitFor(t, "the alert ends", 30*time.Second, func() bool { return len(activeAlerts(t, root, id)) == 0 })
	// Resolved stays resolved: the re-post no longer sends it.
	time.Sleep(3 * time.Second)
	if got := activeAlerts(t, root, id); len(got) != 0 {
		t.Fatalf("resolved alert active again: %+v", got)
	}
}

// A receiver that hangs costs one attempt its timeout, recorded as tagdrift's
// "timeout", and nothing more.
func TestDeliveryTimesOut(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "hangs", Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + srv.URL + `"}`), Secret: []byte(hookSecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	s, err := New(Config{
		Store: st, Dialer: &kubeconfig.Dialer{Allowed: loopback}, Tick: time.Hour,
		Deliveries: &DeliveryConfig{Client: notify.NewChannelClient(loopback, time.Minute), AttemptTimeout: 300 * time.Millisecond, MaxAttempts: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	started := time.Now()
	if _, err := st.EnqueueNotifications(ctx, []store.OutboxEvent{{
		Type: string(notify.MutationOpened), Payload: payloadJSON(t, notify.MutationOpened, 1, "x:1"), PayloadVersion: notify.PayloadVersion,
		At: time.Now(), Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: time.Now()}},
	}}, s.InsertDeliveries); err != nil {
		t.Fatal(err)
	}
	var d store.Delivery
	waitFor(t, "the hanging delivery failed", 30*time.Second, func() bool {
		log, err := st.DeliveryLog(ctx, ch.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		d = log[0]
		return d.Status == store.DeliveryFailed
	})
	if d.LastError != "timeout" || d.Attempts != 1 {
		t.Errorf("hanging receiver: %q after %d attempts, want timeout after 1", d.LastError, d.Attempts)
	}
	if took := time.Since(started); took > 20*time.Second {
		t.Errorf("a 300ms attempt took %s to record", took)
	}
}
