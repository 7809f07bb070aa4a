package store

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// ackFixture is a store with an open workload-divergence and the channels given, each
// with a route that sends it every type (or types).
type ackFixture struct {
	s  *Store
	wd Mutation
}

func newAckFixture(t *testing.T, routes map[string][]string) (ackFixture, map[string]Channel) {
	t.Helper()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	channels := map[string]Channel{}
	for _, name := range slices.Sorted(maps.Keys(routes)) {
		kind, secret := ChannelAlertmanager, []byte(nil)
		if name == "hook" {
			kind, secret = ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu")
		}
		ch := mustChannel(t, s, name, kind, secret)
		if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: ch.ID, SendBaseline: true, Types: routes[name], Enabled: true}); err != nil {
			t.Fatal(err)
		}
		channels[name] = ch
	}
	s.SetOutbox(Outbox{
		Jobs:    func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil },
		Payload: notify.PayloadConfig{BaseURL: "https://tagdrift.example.com"},
	})
	c := mustCluster(t, s, "prod", "tok")
	at := time.Now().UTC().Truncate(time.Second)
	id, err := s.StartScan(ctx, c.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	pods := []inventory.Pod{pod("web-a", "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("b"))}
	if _, err := s.CompleteScan(ctx, id, pods, len(pods), at); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ListMutations(ctx, MutationFilter{Kind: "workload-divergence"})
	if err != nil || len(ms) != 1 {
		t.Fatalf("open workload-divergences: %d, %v", len(ms), err)
	}
	return ackFixture{s: s, wd: ms[0]}, channels
}

// deliveries returns what was written for ch, oldest first, marking each delivered.
func (f ackFixture) deliveries(t *testing.T, ch Channel) []Delivery {
	t.Helper()
	ctx := context.Background()
	ds, err := f.s.DeliveryLog(ctx, ch.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ds)
	for _, d := range ds {
		if d.Status == DeliveryPending {
			if err := f.s.RecordAttempt(ctx, d.ID, d.EventAt, "", false); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ds
}

// An acknowledgement approved writes one mutation.acknowledged, whose payload says who
// asked, who approved, why, the ticket and until when, and the mutation's state.
func TestOutboxAcknowledged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, chs := newAckFixture(t, map[string][]string{"hook": nil})
	hook := chs["hook"]
	opened := f.deliveries(t, hook)
	if len(opened) != 1 || opened[0].Type != string(notify.MutationOpened) || opened[0].PayloadVersion != notify.PayloadVersion {
		t.Fatalf("after the scan: %+v", opened)
	}
	var p notify.Payload
	if err := json.Unmarshal(opened[0].Payload, &p); err != nil || p.Mutation.State != attention.StateOpen || p.Acknowledgement != nil {
		t.Fatalf("opened payload: %+v, %v", p, err)
	}

	expires := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	req, err := f.s.CreateAck(ctx, Audit{Actor: "user:viewer"}, NewAck{
		MutationID: f.wd.ID, Reason: "rolling out 1.25.3", Ticket: "https://tickets.example/OPS-7",
		Until: attention.UntilResolved, ExpiresAt: &expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.deliveries(t, hook); len(got) != 1 {
		t.Fatalf("a request wrote %d events, want none more", len(got)-1)
	}
	if _, err := f.s.DecideAck(ctx, Audit{Actor: "user:admin"}, req.ID, true); err != nil {
		t.Fatal(err)
	}
	ds := f.deliveries(t, hook)
	if len(ds) != 2 || ds[1].Type != string(notify.MutationAcknowledged) || ds[1].Reason != "" || ds[1].MutationID != f.wd.ID {
		t.Fatalf("after the approval: %+v", ds)
	}
	p = notify.Payload{}
	if err := json.Unmarshal(ds[1].Payload, &p); err != nil {
		t.Fatal(err)
	}
	want := notify.Acknowledgement{
		ID: req.ID, Actor: "user:viewer", ApprovedBy: "user:admin", Reason: "rolling out 1.25.3",
		Ticket: "https://tickets.example/OPS-7", Until: attention.UntilResolved, ExpiresAt: &expires,
	}
	a := p.Acknowledgement
	if a == nil || a.ExpiresAt == nil || !a.ExpiresAt.Equal(expires) {
		t.Fatalf("acknowledgement %+v, want %+v", a, want)
	}
	a.ExpiresAt = want.ExpiresAt
	if *a != want || p.Mutation.State != attention.StateAcknowledged || p.Type != notify.MutationAcknowledged {
		t.Errorf("payload %s\nwant acknowledgement %+v and state acknowledged", ds[1].Payload, want)
	}

	// Revoked while the mutation is still there: it opens again, with the reason, and
	// the payload's state says open.
	if _, err := f.s.RevokeAck(ctx, Audit{Actor: "user:admin"}, req.ID); err != nil {
		t.Fatal(err)
	}
	ds = f.deliveries(t, hook)
	if len(ds) != 3 || ds[2].Type != string(notify.MutationOpened) || ds[2].Reason != string(notify.ReasonAcknowledgementEnded) {
		t.Fatalf("after the revocation: %+v", ds)
	}
	p = notify.Payload{}
	if err := json.Unmarshal(ds[2].Payload, &p); err != nil || p.Mutation.State != attention.StateOpen || p.Acknowledgement != nil {
		t.Errorf("opened again: %s, %v", ds[2].Payload, err)
	}

	// An admin's acknowledgement of a scope: the payload names the scope, and the admin
	// both as the actor and as the approver.
	scope, err := f.s.CreateAck(ctx, Audit{Actor: "user:admin"}, NewAck{
		Scope: `cluster="prod"`, Reason: "prod freeze", Until: attention.UntilTime, ExpiresAt: &expires, Approved: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ds = f.deliveries(t, hook)
	if len(ds) != 4 || ds[3].Type != string(notify.MutationAcknowledged) {
		t.Fatalf("after the scope's acknowledgement: %+v", ds)
	}
	p = notify.Payload{}
	if err := json.Unmarshal(ds[3].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if a := p.Acknowledgement; a == nil || a.ID != scope.ID || a.Scope != `cluster="prod"` || a.Actor != "user:admin" ||
		a.ApprovedBy != "user:admin" || a.Until != attention.UntilTime || a.Ticket != "" {
		t.Errorf("scope's acknowledgement in the payload: %s", ds[3].Payload)
	}
}

// OpenAlerts reposts no acknowledged mutation: not when mutation.acknowledged was the
// last thing delivered, nor when the channel's route does not send it at all; and
// reposts it again once its acknowledgement has ended.
func TestOpenAlertsLeaveAcknowledged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noAck := []string{string(notify.MutationOpened), string(notify.MutationChanged), string(notify.MutationResolved)}
	f, chs := newAckFixture(t, map[string][]string{"am": nil, "am-no-ack": noAck})
	reposted := func(ch Channel) []int64 {
		t.Helper()
		f.deliveries(t, ch)
		open, err := f.s.OpenAlerts(ctx, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, a := range open {
			out = append(out, a.MutationID)
		}
		return out
	}
	for name, ch := range chs {
		if got := reposted(ch); !slices.Equal(got, []int64{f.wd.ID}) {
			t.Fatalf("%s: open alerts %v, want the mutation", name, got)
		}
	}
	ack, err := f.s.CreateAck(ctx, Audit{Actor: "user:admin"}, NewAck{MutationID: f.wd.ID, Reason: "known", Until: attention.UntilResolved, Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, ch := range chs {
		if got := reposted(ch); len(got) != 0 {
			t.Errorf("%s: acknowledged, yet open alerts %v", name, got)
		}
	}
	if ds, _ := f.s.DeliveryLog(ctx, chs["am-no-ack"].ID, 100); len(ds) != 1 {
		t.Errorf("the route without mutation.acknowledged got %d events, want 1", len(ds))
	}
	if _, err := f.s.RevokeAck(ctx, Audit{Actor: "user:admin"}, ack.ID); err != nil {
		t.Fatal(err)
	}
	for name, ch := range chs {
		if got := reposted(ch); !slices.Equal(got, []int64{f.wd.ID}) {
			t.Errorf("%s: acknowledgement ended, open alerts %v, want the mutation", name, got)
		}
	}
}
