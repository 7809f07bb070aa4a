package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/store"
)

// A route with a repeat interval reminds its channel of a mutation still open: the
// periodic job writes the reminders through the outbox and the delivery worker sends
// them, each under its own webhook-id, a repeat interval after the last; acknowledged,
// the mutation is reminded of no more.
func TestRemindersDelivered(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	hook, recv := newHook(t, st, "hook")
	const every = time.Second
	if _, err := st.CreateRoute(ctx, testAudit, store.Route{ChannelID: hook.ID, SendBaseline: true, RepeatInterval: every, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	startNotifier(t, st, 200*time.Millisecond)
	start := time.Now()
	id := openByScan(t, st)
	waitFor(t, "the opening and two reminders", 30*time.Second, func() bool {
		got := received(recv)
		return got["mutation.opened/"] == 1 && got["mutation.opened/repeat"] >= 2
	}, func() { t.Logf("received %v", received(recv)) })
	// Two reminders, each an interval after the message before it: not before 2s.
	if took := time.Since(start); took < 2*every {
		t.Errorf("two reminders within %s, want at least %s", took, 2*every)
	}
	byID, bodies := recv.Counts().Accepted, takenPayloads(recv)
	for evt, n := range byID {
		if n != 1 {
			t.Errorf("event %s delivered %d times", evt, n)
		}
		if p := bodies[evt]; p.Mutation.ID != id || p.Mutation.State != attention.StateOpen {
			t.Errorf("event %s: mutation %d state %s", evt, p.Mutation.ID, p.Mutation.State)
		}
	}

	if _, err := st.CreateAck(ctx, store.Audit{Actor: "user:admin"}, store.NewAck{MutationID: id, Reason: "known", Until: attention.UntilResolved, Approved: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acknowledgement", 10*time.Second, func() bool { return received(recv)["mutation.acknowledged/"] == 1 })
	time.Sleep(500 * time.Millisecond) // a reminder written before the acknowledgement may still arrive
	reminders := received(recv)["mutation.opened/repeat"]
	time.Sleep(4 * every)
	if got := received(recv)["mutation.opened/repeat"]; got != reminders {
		t.Errorf("%d reminders after the acknowledgement", got-reminders)
	}
	for _, d := range mustLog(t, st, hook) {
		if d.Status != store.DeliveryDelivered {
			t.Errorf("delivery %d (%s/%s): %s %s", d.ID, d.Type, d.Reason, d.Status, d.LastError)
		}
	}
}
