package store

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
)

// repeatFixture is a store with an outbox, a cluster and one workload-divergence
// opened by a real scan.
type repeatFixture struct {
	t   *testing.T
	s   *Store
	c   Cluster
	mid int64
}

func newRepeatFixture(t *testing.T) *repeatFixture {
	t.Helper()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})
	return &repeatFixture{t: t, s: s, c: mustCluster(t, s, "prod", "tok")}
}

// open scans pods2: a workload-divergence opens.
func (f *repeatFixture) open() {
	f.t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	id, err := f.s.StartScan(ctx, f.c.ID, at)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.CompleteScan(ctx, id, pods2(), 2, at); err != nil {
		f.t.Fatal(err)
	}
	ms, err := f.s.ListMutations(ctx, MutationFilter{})
	if err != nil || len(ms) != 1 {
		f.t.Fatalf("open mutations: %d, %v", len(ms), err)
	}
	f.mid = ms[0].ID
}

// log is a channel's deliveries, oldest first.
func (f *repeatFixture) log(ch Channel) []Delivery {
	f.t.Helper()
	ds, err := f.s.DeliveryLog(context.Background(), ch.ID, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(ds)
	return ds
}

// deliverAll records every pending delivery to ch delivered now.
func (f *repeatFixture) deliverAll(ch Channel) {
	f.t.Helper()
	for _, d := range f.log(ch) {
		if d.Status == DeliveryPending {
			if err := f.s.RecordAttempt(context.Background(), d.ID, time.Now(), "", false); err != nil {
				f.t.Fatal(err)
			}
		}
	}
}

func (f *repeatFixture) repeats() Repeats {
	f.t.Helper()
	r, err := f.s.EnqueueRepeats(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// A route with a repeat interval reminds its channel of a mutation still open, that
// long after its last message about it (not while that is pending), as a
// mutation.opened with reason repeat written through the outbox; again an interval
// after the reminder; never to an Alertmanager channel nor through a route without a
// repeat; and no more once the route is disabled, the mutation acknowledged, or
// resolved.
func TestRepeats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newRepeatFixture(t)
	s := f.s
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	quiet := mustChannel(t, s, "quiet", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	am := mustChannel(t, s, "am", ChannelAlertmanager, nil)
	const every = 1500 * time.Millisecond
	rt, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, SendBaseline: true, RepeatInterval: every, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: quiet.ID, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: am.ID, SendBaseline: true, RepeatInterval: every, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	f.open()
	if got := f.log(hook); len(got) != 1 || !slices.Equal(got[0].RouteIDs, []int64{rt.ID}) {
		t.Fatalf("the opening: %+v", got)
	}

	// Pending: nothing, however long ago it was written.
	time.Sleep(every)
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a reminder while the opening is pending: %+v", r)
	}
	for _, ch := range []Channel{hook, quiet, am} {
		f.deliverAll(ch)
	}
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a reminder right after the opening was delivered: %+v", r)
	}
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 1 || r.Deliveries != 1 {
		t.Fatalf("reminders due: %+v, want one to hook", r)
	}
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a second reminder while the first is pending: %+v", r)
	}
	got := f.log(hook)
	if len(got) != 2 {
		t.Fatalf("hook got %d deliveries", len(got))
	}
	rep := got[1]
	var p notify.Payload
	if err := json.Unmarshal(rep.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if rep.Type != "mutation.opened" || rep.Reason != "repeat" || rep.MutationID != f.mid || rep.PublicID == got[0].PublicID ||
		p.Reason != notify.ReasonRepeat || p.Mutation.State != attention.StateOpen || p.Mutation.ID != f.mid || len(p.Digests) != 2 ||
		!slices.Equal(rep.RouteIDs, []int64{rt.ID}) || rep.NotBefore.After(time.Now()) {
		t.Errorf("the reminder: %+v\npayload %+v", rep, p)
	}
	if n := len(f.log(quiet)) + len(f.log(am)); n != 2 {
		t.Errorf("a reminder went to a route without a repeat or to Alertmanager: %d deliveries there, want the 2 openings", n)
	}

	// The next one an interval after the reminder was sent.
	f.deliverAll(hook)
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 1 {
		t.Fatalf("the second reminder: %+v", r)
	}
	f.deliverAll(hook)

	// A disabled route reminds of nothing; enabled again, it does.
	rt.Enabled = false
	if _, err := s.UpdateRoute(ctx, testAudit, rt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a disabled route reminded: %+v", r)
	}
	rt.Enabled = true
	if _, err := s.UpdateRoute(ctx, testAudit, rt); err != nil {
		t.Fatal(err)
	}
	if r := f.repeats(); r.Events != 1 {
		t.Fatalf("enabled again: %+v", r)
	}
	f.deliverAll(hook)

	// Acknowledged: no reminder (the acknowledgement itself is sent, as ever).
	ack, err := s.CreateAck(ctx, Audit{Actor: "user:admin"}, NewAck{MutationID: f.mid, Reason: "known", Until: attention.UntilResolved, Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	f.deliverAll(hook)
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("an acknowledged mutation reminded: %+v", r)
	}
	// The acknowledgement revoked: open again, told so, then reminded of an interval
	// after that message.
	if _, err := s.RevokeAck(ctx, Audit{Actor: "user:admin"}, ack.ID); err != nil {
		t.Fatal(err)
	}
	if last := f.log(hook); last[len(last)-1].Reason != string(notify.ReasonAcknowledgementEnded) {
		t.Fatalf("after the revocation: %+v", last[len(last)-1])
	}
	f.deliverAll(hook)
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a reminder right after the mutation opened again: %+v", r)
	}
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 1 {
		t.Fatalf("open again, then due: %+v", r)
	}
	f.deliverAll(hook)

	// A deleted route reminds of nothing.
	if err := s.DeleteRoute(ctx, testAudit, rt.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a deleted route reminded: %+v", r)
	}
	var types []string
	for _, d := range f.log(hook) {
		types = append(types, d.Type+"/"+d.Reason)
	}
	want := []string{"mutation.opened/", "mutation.opened/repeat", "mutation.opened/repeat", "mutation.opened/repeat",
		"mutation.acknowledged/", "mutation.opened/acknowledgement-ended", "mutation.opened/repeat"}
	if !slices.Equal(types, want) {
		t.Errorf("hook got\n%v\nwant\n%v", types, want)
	}
}

// A resolved mutation, and one whose route no longer matches it, is not reminded of;
// without an outbox nothing is written.
func TestRepeatsStopWhenResolvedOrUnmatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newRepeatFixture(t)
	s := f.s
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	const every = time.Second
	rt, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, SendBaseline: true, RepeatInterval: every, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	f.open()
	f.deliverAll(hook)
	time.Sleep(every + 100*time.Millisecond)

	// Its matchers no longer take the mutation: nothing.
	rt.Matchers = `cluster="staging"`
	if _, err := s.UpdateRoute(ctx, testAudit, rt); err != nil {
		t.Fatal(err)
	}
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a route that no longer matches reminded: %+v", r)
	}
	rt.Matchers = `cluster="prod"`
	if _, err := s.UpdateRoute(ctx, testAudit, rt); err != nil {
		t.Fatal(err)
	}
	// No outbox (tagdrift scan): nothing written.
	s.SetOutbox(Outbox{})
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("reminders without an outbox: %+v", r)
	}
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})

	// Resolved by a scan that no longer sees it: the resolution is sent, no reminder.
	id, err := s.StartScan(ctx, f.c.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteScan(ctx, id, pods2()[:1], 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.deliverAll(hook)
	time.Sleep(every + 100*time.Millisecond)
	if r := f.repeats(); r.Events != 0 {
		t.Fatalf("a resolved mutation reminded: %+v", r)
	}
	var types []string
	for _, d := range f.log(hook) {
		types = append(types, d.Type+"/"+d.Reason)
	}
	if want := []string{"mutation.opened/", "mutation.resolved/converged"}; !slices.Equal(types, want) {
		t.Errorf("hook got %v, want %v", types, want)
	}
}
