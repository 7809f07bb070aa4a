package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// fleetGroup writes n mutation.opened events of one reference, each a delivery to
// channel due at at, chosen by route: a fleet-wide tag move's deliveries. It returns
// the deliveries' ids in event order.
func fleetGroup(t testing.TB, s *Store, channel, route int64, n int, at time.Time) []int64 {
	t.Helper()
	ref := "registry.example.com/fleet:1"
	events := make([]OutboxEvent, n)
	for i := range events {
		name := fmt.Sprintf("web-%03d", i/10)
		m := notify.Mutation{ID: int64(i + 1), Mutation: detect.Mutation{
			Kind: detect.WorkloadDivergence, Cluster: "fleet", Namespace: "shop", Workload: inventory.Workload{Kind: "Deployment", Name: name},
			Container: fmt.Sprintf("c%d", i%10), Ref: ref, Digests: []string{"sha256:aaaa", "sha256:bbbb"},
		}}
		b, err := notify.NewPayload(notify.Event{Type: notify.MutationOpened, At: at, Mutation: m}, notify.PayloadConfig{}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		events[i] = OutboxEvent{Type: string(notify.MutationOpened), MutationID: 0, Payload: b, PayloadVersion: notify.PayloadVersion,
			At: at, GroupKey: ref, Deliveries: []OutboxDelivery{{ChannelID: channel, NotBefore: at, RouteIDs: []int64{route}}}}
	}
	q, err := s.EnqueueNotifications(context.Background(), events, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(q))
	for i, d := range q {
		ids[i] = d.ID
	}
	return ids
}

// A group has no cap: the first delivery of 250 due together (more than a message
// once carried, 100) claims the 249 others, in event order, and leaves out those no
// route sends any more (each reason dropped at once); the others' jobs find theirs
// carried.
func TestClaimGroupHasNoCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	route, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	off, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Second)
	ids := fleetGroup(t, s, hook.ID, route.ID, 250, at)
	// Five more of the reference, by a route disabled before they are sent.
	offIDs := fleetGroup(t, s, hook.ID, off.ID, 5, at)
	off.Enabled = false
	if _, err := s.UpdateRoute(ctx, testAudit, off); err != nil {
		t.Fatal(err)
	}

	group, carried, dropped, err := s.ClaimGroup(ctx, ids[0], time.Now(), true)
	if err != nil || !carried || dropped != len(offIDs) {
		t.Fatalf("claim: carried %v, dropped %d, %v", carried, dropped, err)
	}
	if len(group) != len(ids)-1 {
		t.Fatalf("the group carries %d deliveries, want %d", len(group), len(ids)-1)
	}
	for i, d := range group {
		if d.ID != ids[i+1] || d.MergedInto != ids[0] || len(d.Payload) == 0 {
			t.Fatalf("group[%d] = delivery %d merged into %d, want %d merged into %d", i, d.ID, d.MergedInto, ids[i+1], ids[0])
		}
	}
	for _, id := range []int64{ids[1], ids[249]} {
		if _, carried, _, err := s.ClaimGroup(ctx, id, time.Now(), true); err != nil || carried {
			t.Errorf("delivery %d, in the group: carried %v, %v", id, carried, err)
		}
	}
	for _, id := range offIDs {
		d, err := s.Delivery(ctx, id)
		if err != nil || d.Status != DeliveryDropped || d.LastError != DropRouteDisabled || d.MergedInto != 0 {
			t.Errorf("delivery %d of the disabled route: %s (%s) merged into %d, %v", id, d.Status, d.LastError, d.MergedInto, err)
		}
	}
	// A retry sends what the first attempt gathered, all of it.
	if err := s.RecordAttempt(ctx, ids[0], time.Now(), "status-503", false); err != nil {
		t.Fatal(err)
	}
	again, carried, _, err := s.ClaimGroup(ctx, ids[0], time.Now(), false)
	if err != nil || !carried || len(again) != len(group) {
		t.Fatalf("retry: %d carried (%v), %v; want %d", len(again), carried, err, len(group))
	}
}

// BenchmarkClaimGroup measures the claim of a fleet-wide tag move's group by its first
// delivery: 999 others due together, their payloads read and checked against their
// route (the part of BenchmarkNotifyFleet's commit-to-delivery time the store takes).
func BenchmarkClaimGroup(b *testing.B) {
	ctx := context.Background()
	s, _ := mustStore(b, mustRing(b, newKey(b)))
	hook := mustChannel(b, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	route, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, Enabled: true})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Pool().Exec(ctx, `DELETE FROM notification_deliveries`); err != nil {
			b.Fatal(err)
		}
		ids := fleetGroup(b, s, hook.ID, route.ID, 1000, time.Now().Add(-time.Second))
		b.StartTimer()
		group, carried, _, err := s.ClaimGroup(ctx, ids[0], time.Now(), true)
		if err != nil || !carried || len(group) != 999 {
			b.Fatalf("claim: %d carried (%v), %v", len(group), carried, err)
		}
	}
}

// The first delivery a transaction writes of each channel and group key leads its
// group (its job runs first); one of no group leads itself.
func TestEnqueueMarksLeads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	other := mustChannel(t, s, "other", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	at := time.Now().Truncate(time.Second)
	later := at.Add(30 * time.Second)
	event := func(key string, ds ...OutboxDelivery) OutboxEvent {
		return OutboxEvent{Type: string(notify.MutationOpened), Payload: []byte(`{}`), PayloadVersion: notify.PayloadVersion,
			At: at, GroupKey: key, Deliveries: ds}
	}
	q, err := s.EnqueueNotifications(ctx, []OutboxEvent{
		event("web:1", OutboxDelivery{ChannelID: hook.ID, NotBefore: at}, OutboxDelivery{ChannelID: other.ID, NotBefore: at}), // leads, both
		event("web:1", OutboxDelivery{ChannelID: hook.ID, NotBefore: at}, OutboxDelivery{ChannelID: other.ID, NotBefore: at}), // follows, both
		event("web:1", OutboxDelivery{ChannelID: hook.ID, NotBefore: later}),                                                  // leads: due later
		event("web:2", OutboxDelivery{ChannelID: hook.ID, NotBefore: at}),                                                     // leads: another reference
		event("", OutboxDelivery{ChannelID: hook.ID, NotBefore: at}),                                                          // leads: no group
		event("", OutboxDelivery{ChannelID: hook.ID, NotBefore: at}),                                                          // leads: no group
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, d := range q {
		got = append(got, d.Lead)
	}
	if want := []bool{true, true, false, false, false, true, true, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("leads %v, want %v", got, want)
	}
}
