package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// podOf is pod of another workload: a second Deployment running the same reference.
func podOf(workload, name, uid, imageID string) inventory.Pod {
	p := pod(name, uid, "app", imageID)
	p.Workload.Name = workload
	p.Controller.Name, p.Controller.UID = workload+"-1", types.UID("rs-"+uid)
	return p
}

// The state column follows rules and acknowledgements through every path that writes
// it (a scan, an acknowledgement approved or revoked, a digest joining, a rule, the
// expiry job), and the outbox says so.
func TestAcknowledgementsAndRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})
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
	seen := 0
	sent := func() []string { // the events since the last call
		t.Helper()
		ds, err := s.DeliveryLog(ctx, hook.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range slices.Backward(ds) {
			out = append(out, d.Type+"/"+d.Reason)
		}
		out, seen = out[seen:], len(out)
		return out
	}
	stateOf := func(kind string) Mutation {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{State: StateUnresolved, Kind: kind})
		if err != nil || len(ms) != 1 {
			t.Fatalf("%s: %d unresolved, %v", kind, len(ms), err)
		}
		return ms[0]
	}
	admin, viewer := Audit{Actor: "user:admin"}, Audit{Actor: "user:viewer"}

	a, b := pod("web-a", "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("b"))
	scan(t0, a, b)
	wd := stateOf("workload-divergence")
	if wd.State != attention.StateOpen {
		t.Fatalf("new workload-divergence is %q", wd.State)
	}
	if got := sent(); !slices.Equal(got, []string{"mutation.opened/"}) {
		t.Fatalf("sent %v", got)
	}

	// A rule never makes a workload-divergence expected.
	rule, err := s.CreateRule(ctx, admin, NewRule{Scope: `reference="nginx:1.25"`, Reason: "moves nightly"})
	if err != nil {
		t.Fatal(err)
	}
	if got := stateOf("workload-divergence"); got.State != attention.StateOpen {
		t.Fatalf("a rule made a workload-divergence %q", got.State)
	}

	// A viewer's request covers nothing until approved.
	req, err := s.CreateAck(ctx, viewer, NewAck{MutationID: wd.ID, Reason: "rolling out", Until: attention.UntilChanged})
	if err != nil || req.Status != AckRequested {
		t.Fatalf("request: %+v, %v", req, err)
	}
	if got := stateOf("workload-divergence"); got.State != attention.StateOpen {
		t.Fatalf("a request made it %q", got.State)
	}
	if _, err := s.DecideAck(ctx, admin, req.ID, true); err != nil {
		t.Fatal(err)
	}
	if got := stateOf("workload-divergence"); got.State != attention.StateAcknowledged || got.Ack != req.ID {
		t.Fatalf("approved: %q by %d", got.State, got.Ack)
	}
	if got := sent(); !slices.Equal(got, []string{"mutation.acknowledged/"}) {
		t.Fatalf("sent %v", got)
	}
	if _, err := s.DecideAck(ctx, admin, req.ID, true); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("approving twice: %v", err)
	}
	if open, err := s.ListMutations(ctx, MutationFilter{}); err != nil || len(open) != 0 {
		t.Fatalf("open (needs attention) lists %d, %v", len(open), err)
	}

	// A digest joins: the until-changed acknowledgement ends and the mutation opens
	// again, once, with the reason.
	scan(t0.Add(time.Minute), a, b, pod("web-c", "u3", "app", digest("c")))
	if got := stateOf("workload-divergence"); got.State != attention.StateOpen {
		t.Fatalf("after a digest joined: %q", got.State)
	}
	if got, err := s.AckByID(ctx, req.ID, Scope{}); err != nil || got.Status != AckEnded || got.EndReason != "changed" {
		t.Fatalf("acknowledgement after the change: %+v, %v", got, err)
	}
	if got := sent(); !slices.Equal(got, []string{"mutation.opened/acknowledgement-ended"}) {
		t.Fatalf("sent %v", got)
	}

	// An admin's acknowledgement with a time is active at once and ends at it, by the
	// expiry job.
	timed := time.Now().Add(1500 * time.Millisecond)
	ack, err := s.CreateAck(ctx, admin, NewAck{MutationID: wd.ID, Reason: "known", Ticket: "OPS-1", Until: attention.UntilTime, ExpiresAt: &timed, Approved: true})
	if err != nil || ack.Status != AckActive {
		t.Fatalf("admin's acknowledgement: %+v, %v", ack, err)
	}
	if got := stateOf("workload-divergence"); got.State != attention.StateAcknowledged {
		t.Fatalf("acknowledged: %q", got.State)
	}
	if e, err := s.SettleExpired(ctx); err != nil || e.Acks != 0 {
		t.Fatalf("expiry before the time: %+v, %v", e, err)
	}
	time.Sleep(time.Until(timed) + 100*time.Millisecond)
	if e, err := s.SettleExpired(ctx); err != nil || e.Acks != 1 || e.Settled != 1 {
		t.Fatalf("expiry after the time: %+v, %v", e, err)
	}
	if got := stateOf("workload-divergence"); got.State != attention.StateOpen {
		t.Fatalf("after expiry: %q", got.State)
	}
	if got := sent(); !slices.Equal(got, []string{"mutation.acknowledged/", "mutation.opened/acknowledgement-ended"}) {
		t.Fatalf("sent %v", got)
	}

	// A tag-divergence inside the rule is expected from birth: nothing is sent.
	scan(t0.Add(2*time.Minute), a, podOf("api", "api-a", "u9", digest("d")))
	if _, err := s.RecheckRefs(ctx, 100, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	td := stateOf("tag-divergence")
	if td.State != attention.StateExpected || td.Rule != rule.ID {
		t.Fatalf("tag-divergence in the rule: %q by %d", td.State, td.Rule)
	}
	// Revoking the rule opens it.
	if _, err := s.RevokeRule(ctx, admin, rule.ID); err != nil {
		t.Fatal(err)
	}
	if got := stateOf("tag-divergence"); got.State != attention.StateOpen {
		t.Fatalf("after the rule was revoked: %q", got.State)
	}
	// A scope acknowledgement of the cluster covers it; its revocation opens it again.
	later := time.Now().Add(time.Hour)
	scopeAck, err := s.CreateAck(ctx, admin, NewAck{Scope: `cluster="prod"`, Reason: "migration", Until: attention.UntilTime, ExpiresAt: &later, Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := stateOf("tag-divergence"); got.State != attention.StateAcknowledged || got.Ack != scopeAck.ID {
		t.Fatalf("scope acknowledgement: %q by %d", got.State, got.Ack)
	}
	if _, err := s.RevokeAck(ctx, admin, scopeAck.ID); err != nil {
		t.Fatal(err)
	}
	if got := stateOf("tag-divergence"); got.State != attention.StateOpen {
		t.Fatalf("after revoking the scope: %q", got.State)
	}
	counts, err := s.OpenMutationCounts(ctx, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.State != string(attention.StateOpen) {
			t.Errorf("count %+v: every condition is open again", c)
		}
	}
	// A history event cannot be acknowledged.
	if _, err := s.CreateAck(ctx, admin, NewAck{MutationID: wd.ID + 1000, Reason: "x", Until: attention.UntilResolved, Approved: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("acknowledging a mutation that does not exist: %v", err)
	}
	var types []string
	if err := s.pool.QueryRow(ctx, `SELECT array_agg(DISTINCT action ORDER BY action) FROM audit_events WHERE action LIKE 'ack.%' OR action LIKE 'rule.%'`).Scan(&types); err != nil {
		t.Fatal(err)
	}
	want := []string{"ack.approve", "ack.create", "ack.expire", "ack.request", "ack.revoke", "rule.create", "rule.revoke"}
	if !slices.Equal(types, want) {
		t.Errorf("audited %v, want %v", types, want)
	}
	_ = notify.MutationAcknowledged
}
