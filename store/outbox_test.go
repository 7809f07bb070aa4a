package store

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// The three transactions that change mutations write their notifications, and insert
// the delivery jobs, in the same transaction: a new cluster's first scan is a baseline,
// a digest joining is a change, converging resolves, and deleting the cluster resolves
// what it had open with the reason cluster-deleted.
func TestOutboxFromScans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	baselineHook := mustChannel(t, s, "baseline", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, GroupWait: 30 * time.Second, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: baselineHook.ID, SendBaseline: true, Kinds: []string{"workload-divergence"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var jobs []QueuedDelivery
	s.SetOutbox(Outbox{
		Jobs: func(ctx context.Context, tx pgx.Tx, ds []QueuedDelivery) error {
			// The deliveries are there, in the caller's transaction.
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE id = ANY($1)`, ids(ds)).Scan(&n); err != nil || n != len(ds) {
				t.Errorf("deliveries in the transaction: %d of %d, %v", n, len(ds), err)
			}
			jobs = append(jobs, ds...)
			return nil
		},
		Payload: notify.PayloadConfig{BaseURL: "https://tagdrift.example.com"},
	})
	c := mustCluster(t, s, "prod", "tok")
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	scan := func(at time.Time, pods ...inventory.Pod) {
		t.Helper()
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteScan(ctx, id, pods, len(pods), at); err != nil {
			t.Fatal(err)
		}
	}
	log := func(ch Channel) []string {
		t.Helper()
		ds, err := s.DeliveryLog(ctx, ch.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range slices.Backward(ds) {
			out = append(out, d.Type+"/"+d.Reason)
		}
		return out
	}

	a, b := pod("web-a", "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("b"))
	scan(t0, a, b) // the baseline: a workload-divergence opens
	if got := log(hook); len(got) != 0 {
		t.Fatalf("the baseline went to a route that did not ask: %v", got)
	}
	if got := log(baselineHook); !slices.Equal(got, []string{"mutation.opened/"}) {
		t.Fatalf("baseline route got %v", got)
	}
	scan(t0.Add(time.Minute), a, b) // nothing changes
	c3 := pod("web-c", "u3", "app", digest("c"))
	scan(t0.Add(2*time.Minute), a, b, c3) // a digest joins
	// A pod rescheduled onto a digest already there is no change.
	scan(t0.Add(3*time.Minute), a, b, c3, pod("web-d", "u4", "app", digest("c")))
	scan(t0.Add(4*time.Minute), a, pod("web-b2", "u5", "app", digest("a"))) // converged
	scan(t0.Add(5*time.Minute), a, b)                                       // opens again
	// web-b2 starting on digest a after the tag ran c is recorded as a history event.
	if got, want := log(hook), []string{"mutation.changed/", "event.recorded/", "mutation.resolved/converged", "mutation.opened/"}; !slices.Equal(got, want) {
		t.Fatalf("hook got %v, want %v", got, want)
	}
	ds, err := s.DeliveryLog(ctx, hook.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if want := d.EventAt.Add(30 * time.Second); !d.NotBefore.Equal(want) {
			t.Errorf("delivery %d not before %v, want %v (the group wait)", d.ID, d.NotBefore, want)
		}
		var p notify.Payload
		if err := json.Unmarshal(d.Payload, &p); err != nil || p.Mutation.ID != d.MutationID || p.Links.API == "" {
			t.Errorf("payload of delivery %d: %+v, %v", d.ID, p, err)
		}
		if d.Type == "event.recorded" && !notify.History(p.Mutation.Kind) {
			t.Errorf("event.recorded of a %s", p.Mutation.Kind)
		}
		if d.Type == "mutation.changed" && !slices.Equal(p.Added, []string{"sha256:" + string(repeat('c'))}) {
			t.Errorf("changed payload added %v", p.Added)
		}
	}

	if _, err := s.DeleteCluster(ctx, "prod", false, Audit{}); err != nil {
		t.Fatal(err)
	}
	if got := log(hook); got[len(got)-1] != "mutation.resolved/cluster-deleted" {
		t.Fatalf("after deleting the cluster: %v", got)
	}
	var queued []int64
	for _, ch := range []Channel{hook, baselineHook} {
		ds, _ := s.DeliveryLog(ctx, ch.ID, 100)
		for _, d := range ds {
			queued = append(queued, d.ID)
		}
	}
	slices.Sort(queued)
	if got := ids(jobs); !slices.Equal(slices.Sorted(slices.Values(got)), queued) {
		t.Fatalf("jobs %v, deliveries %v", got, queued)
	}
}

// A purge sends what the cluster had open resolved, before the rows go.
func TestOutboxPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})
	c := mustCluster(t, s, "prod", "tok")
	id, _ := s.StartScan(ctx, c.ID, time.Now())
	if _, err := s.CompleteScan(ctx, id, []inventory.Pod{pod("web-a", "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("b"))}, 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCluster(ctx, "prod", true, Audit{}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.DeliveryLog(ctx, hook.ID, 10)
	if err != nil || len(ds) != 2 || ds[0].Type != "mutation.resolved" || ds[0].Reason != "cluster-deleted" || ds[0].MutationID != 0 {
		t.Fatalf("after the purge: %+v, %v", ds, err)
	}
	var p notify.Payload
	if err := json.Unmarshal(ds[0].Payload, &p); err != nil || p.Mutation.Cluster != "prod" || p.Mutation.ResolvedAt == nil {
		t.Fatalf("the resolved payload outlives the purge: %+v, %v", p, err)
	}
}

func ids(ds []QueuedDelivery) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func repeat(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

// The tag-divergence that a new cluster's first scan opens with the clusters already
// there is part of its baseline: sent only by routes that ask. One that a later scan
// changes is sent.
func TestOutboxRecheckBaseline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	all := mustChannel(t, s, "all", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, Kinds: []string{"tag-divergence"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: all.ID, Kinds: []string{"tag-divergence"}, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	scan := func(c Cluster, pods ...inventory.Pod) {
		t.Helper()
		at = at.Add(time.Minute)
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pods {
			pods[i].Cluster = c.Name
		}
		if _, err := s.CompleteScan(ctx, id, pods, len(pods), at); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecheckRefs(ctx, 100, at); err != nil {
			t.Fatal(err)
		}
	}
	log := func(ch Channel) []string {
		t.Helper()
		ds, err := s.DeliveryLog(ctx, ch.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range slices.Backward(ds) {
			out = append(out, d.Type)
		}
		return out
	}
	prod, stage := mustCluster(t, s, "prod", "tok"), mustCluster(t, s, "stage", "tok")
	scan(prod, pod("web-a", "u1", "app", digest("a")))
	scan(stage, pod("web-b", "u2", "app", digest("b"))) // stage's baseline: opens the divergence
	if got, want := log(all), []string{"mutation.opened"}; !slices.Equal(got, want) {
		t.Fatalf("route with the baseline got %v, want %v", got, want)
	}
	if got := log(hook); len(got) != 0 {
		t.Fatalf("the baseline's tag-divergence went to a route that did not ask: %v", got)
	}
	scan(stage, pod("web-c", "u3", "app", digest("c"))) // not a baseline: the digests change
	if got, want := log(hook), []string{"mutation.changed"}; !slices.Equal(got, want) {
		t.Fatalf("after stage's second scan: %v, want %v", got, want)
	}
}
