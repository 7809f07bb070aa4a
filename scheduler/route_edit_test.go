package scheduler

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
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

var testAudit = store.Audit{Actor: "test"}

// divergentPods are two pods of one ReplicaSet revision of prod/shop/web on two
// digests: a workload-divergence.
func divergentPods() []inventory.Pod {
	pod := func(name, uid, letter string) inventory.Pod {
		ref := imageref.ParseRef("registry.example.com/web:1")
		id, _ := imageref.ParseImageID("registry.example.com/web@sha256:" + strings.Repeat(letter, 64))
		return inventory.Pod{Cluster: "prod", Namespace: "shop", Name: name, UID: types.UID(uid),
			Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
			Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
			Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}}}
	}
	return []inventory.Pod{pod("a", "u1", "a"), pod("b", "u2", "b")}
}

// openByScan registers a cluster prod (disabled: nothing else scans it) and completes
// one scan of divergentPods, which opens a workload-divergence; it returns its id.
func openByScan(t *testing.T, st *store.Store) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := st.CreateCluster(ctx, store.NewCluster{Name: "prod", Server: "https://prod.example:6443", Context: "prod",
		Credentials: []byte(`{}`), ScanInterval: time.Hour, Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	scanID, err := st.StartScan(ctx, c.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteScan(ctx, scanID, divergentPods(), 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	open, err := st.ListMutations(ctx, store.MutationFilter{})
	if err != nil || len(open) != 1 {
		t.Fatalf("open mutations: %+v, %v", open, err)
	}
	return open[0].ID
}

// startNotifier starts a scheduler that delivers, and looks for reminders every
// repeatCheck.
func startNotifier(t *testing.T, st *store.Store, repeatCheck time.Duration) *Scheduler {
	t.Helper()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	s, err := New(Config{
		Store: st, Dialer: &kubeconfig.Dialer{Allowed: loopback}, Tick: time.Hour, Metrics: NewMetrics(prometheus.NewRegistry()),
		Deliveries: &DeliveryConfig{
			Client: notify.NewChannelClient(loopback, 2*time.Second), AttemptTimeout: 2 * time.Second, MaxAttempts: 3,
			RetryBase: 200 * time.Millisecond, Concurrency: 2, RepostInterval: time.Hour, RepeatCheck: repeatCheck,
		},
	})
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

func newHook(t *testing.T, st *store.Store, name string) (store.Channel, *receivers.Webhook) {
	t.Helper()
	recv, srv := receivers.NewWebhook(t, hookSecret)
	ch, err := st.CreateChannel(context.Background(), testAudit, store.NewChannel{Name: name, Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + srv.URL + `/hook"}`), Secret: []byte(hookSecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return ch, recv
}

// received counts what a receiver took, by type/reason.
func received(recv *receivers.Webhook) map[string]int {
	out := map[string]int{}
	for _, p := range takenPayloads(recv) {
		out[string(p.Type)+"/"+string(p.Reason)]++
	}
	return out
}

// takenPayloads decodes each distinct message a receiver took, by webhook-id.
func takenPayloads(recv *receivers.Webhook) map[string]notify.Payload {
	out := map[string]notify.Payload{}
	for _, m := range recv.Messages() {
		var p notify.Payload
		if err := json.Unmarshal(m.Body, &p); err == nil {
			out[m.ID] = p
		}
	}
	return out
}

func mustLog(t *testing.T, st *store.Store, ch store.Channel) []store.Delivery {
	t.Helper()
	ds, err := st.DeliveryLog(context.Background(), ch.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// A route edited while a delivery of it waits in its group wait: the delivery is sent
// only if a route that chose it still matches it, enabled, when its time comes. A
// route disabled, and one whose matchers no longer take the mutation, drop theirs
// (the log says why, the receiver gets nothing); one edited but still matching sends.
func TestRouteEditedWhileDeliveryWaits(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	const wait = 2 * time.Second
	kept, keptRecv := newHook(t, st, "kept")
	disabled, disabledRecv := newHook(t, st, "disabled")
	unmatched, unmatchedRecv := newHook(t, st, "unmatched")
	routes := map[string]store.Route{}
	for _, ch := range []store.Channel{kept, disabled, unmatched} {
		rt, err := st.CreateRoute(ctx, testAudit, store.Route{ChannelID: ch.ID, SendBaseline: true, GroupWait: wait, Matchers: `cluster="prod"`, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		routes[ch.Name] = rt
	}
	s := startNotifier(t, st, time.Hour)
	openByScan(t, st)
	for _, ch := range []store.Channel{kept, disabled, unmatched} {
		if log := mustLog(t, st, ch); len(log) != 1 || log[0].Status != store.DeliveryPending {
			t.Fatalf("%s before its group wait: %+v", ch.Name, log)
		}
	}
	// Within the group wait: edit the three routes.
	edit := func(name string, change func(*store.Route)) {
		t.Helper()
		rt := routes[name]
		change(&rt)
		if _, err := st.UpdateRoute(ctx, testAudit, rt); err != nil {
			t.Fatal(err)
		}
	}
	edit("kept", func(r *store.Route) {
		r.Matchers = `cluster=~"prod|staging"`
		r.Kinds = []string{"workload-divergence"}
	})
	edit("disabled", func(r *store.Route) { r.Enabled = false })
	edit("unmatched", func(r *store.Route) { r.Matchers = `cluster="staging"` })

	waitFor(t, "the kept route's delivery", 30*time.Second, func() bool { return received(keptRecv)["mutation.opened/"] == 1 })
	waitFor(t, "the other two dropped", 10*time.Second, func() bool {
		return mustLog(t, st, disabled)[0].Status == store.DeliveryDropped && mustLog(t, st, unmatched)[0].Status == store.DeliveryDropped
	})
	time.Sleep(500 * time.Millisecond)
	if d := mustLog(t, st, disabled)[0]; d.LastError != store.DropRouteDisabled || d.Attempts != 0 {
		t.Errorf("disabled route's delivery: %s %q after %d attempts", d.Status, d.LastError, d.Attempts)
	}
	if d := mustLog(t, st, unmatched)[0]; d.LastError != store.DropRouteNoMatch || d.Attempts != 0 {
		t.Errorf("unmatched route's delivery: %s %q after %d attempts", d.Status, d.LastError, d.Attempts)
	}
	if d := mustLog(t, st, kept)[0]; d.Status != store.DeliveryDelivered || d.Attempts != 1 {
		t.Errorf("kept route's delivery: %s after %d attempts", d.Status, d.Attempts)
	}
	if n := len(received(disabledRecv)) + len(received(unmatchedRecv)); n != 0 {
		t.Errorf("%d messages reached the receivers of routes edited away", n)
	}
	for name, want := range map[string]float64{"disabled": 1, "unmatched": 1, "kept": 0} {
		if got := testutil.ToFloat64(s.cfg.Metrics.deliveries.WithLabelValues(name, "dropped")); got != want {
			t.Errorf("dropped deliveries of %s counted %v, want %v", name, got, want)
		}
	}
}
