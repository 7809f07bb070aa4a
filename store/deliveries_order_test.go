package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// A mutation's later delivery to a channel waits while its earlier one is pending, and
// goes once that is delivered: the opening before the acknowledgement.
func TestDeliveriesOfAMutationInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	other := mustChannel(t, s, "other", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	for _, ch := range []Channel{hook, other} {
		if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: ch.ID, SendBaseline: true, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})
	c := mustCluster(t, s, "prod", "tok")
	at := time.Now().Add(-time.Minute)
	id, err := s.StartScan(ctx, c.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteScan(ctx, id, pods2(), 2, at); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ListMutations(ctx, MutationFilter{})
	if err != nil || len(ms) != 1 {
		t.Fatalf("open: %d, %v", len(ms), err)
	}
	if _, err := s.CreateAck(ctx, Audit{Actor: "user:admin"}, NewAck{MutationID: ms[0].ID, Reason: "known", Until: attention.UntilResolved, Approved: true}); err != nil {
		t.Fatal(err)
	}
	log, err := s.DeliveryLog(ctx, hook.ID, 10)
	if err != nil || len(log) != 2 || log[1].Type != "mutation.opened" || log[0].Type != "mutation.acknowledged" {
		t.Fatalf("deliveries to hook: %+v, %v", log, err)
	}
	opened, acked := log[1], log[0]
	waits := func(id int64) bool {
		t.Helper()
		w, err := s.WaitsBehind(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if !waits(acked.ID) {
		t.Error("the acknowledgement does not wait for the pending opening")
	}
	if waits(opened.ID) {
		t.Error("the opening waits")
	}
	// Another channel's deliveries do not hold this one's.
	otherLog, err := s.DeliveryLog(ctx, other.ID, 10)
	if err != nil || len(otherLog) != 2 {
		t.Fatalf("deliveries to other: %d, %v", len(otherLog), err)
	}
	if err := s.RecordAttempt(ctx, otherLog[1].ID, time.Now(), "", false); err != nil {
		t.Fatal(err)
	}
	if !waits(acked.ID) {
		t.Error("another channel's delivery released this one")
	}
	if err := s.RecordAttempt(ctx, opened.ID, time.Now(), "", false); err != nil {
		t.Fatal(err)
	}
	if waits(acked.ID) {
		t.Error("the acknowledgement still waits after the opening was delivered")
	}
}

// pods2 are two pods of one ReplicaSet revision on two digests: a workload-divergence.
func pods2() []inventory.Pod {
	return []inventory.Pod{pod("web-a", "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("b"))}
}
