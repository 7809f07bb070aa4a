//go:build screenshots

package ui

import (
	"context"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// seedAcks declares rules (one live and long, one matching nothing, one revoked) and
// acknowledgements (an admin's, a viewer's request with a hostile reason, a denied one)
// over the fleet's open mutations, for the screenshots, and returns their pages by
// name.
func seedAcks(t *testing.T, st *store.Store) map[string]string {
	ctx := context.Background()
	admin, viewer := store.Audit{Actor: "user:root"}, store.Audit{Actor: "user:vic-the-viewer-with-a-long-name"}
	open, err := st.ListMutations(ctx, store.MutationFilter{State: store.StateOpen, Limit: 50})
	if err != nil || len(open) < 2 {
		t.Fatalf("%d open mutations to acknowledge: %v", len(open), err)
	}
	in := func(d time.Duration) *time.Time { at := time.Now().Add(d); return &at }
	mustRule := func(nr store.NewRule) store.Rule {
		r, err := st.CreateRule(ctx, admin, nr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustRule(store.NewRule{Scope: `reference=~"registry.eu-west-1.internal.example.com:5000/platform/team-payments/.*:nightly", cluster=~"dev-.*|staging-.*"`,
		Reason: "Team payments rebuilds its nightly images every night; a move is the build, not an incident.", ExpiresAt: in(60 * 24 * time.Hour)})
	mustRule(store.NewRule{Scope: `cluster="decommissioned-cluster"`, Reason: "The old cluster ran only dev images."})
	old := mustRule(store.NewRule{Scope: `namespace="sandbox"`, Reason: "Sandbox images move all day."})
	if _, err := st.RevokeRule(ctx, admin, old.ID); err != nil {
		t.Fatal(err)
	}
	mustAck := func(a store.Audit, na store.NewAck) store.Ack {
		ack, err := st.CreateAck(ctx, a, na)
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	acked := mustAck(admin, store.NewAck{MutationID: open[0].ID, Reason: "Canary of 2026.12.01 on one pod; rolled forward tomorrow.",
		Ticket: "https://tracker.example.com/browse/PAYMENTS-12345", Until: attention.UntilResolved, Approved: true})
	denied := mustAck(viewer, store.NewAck{MutationID: open[1].ID, Reason: "Looks fine to me.", Until: attention.UntilChanged})
	if _, err := st.DecideAck(ctx, admin, denied.ID, false); err != nil {
		t.Fatal(err)
	}
	mustAck(viewer, store.NewAck{MutationID: open[1].ID, Reason: `<img src=x onerror=alert(1)> the pin is being moved to the new digest by the release-train-with-a-long-name`,
		Until: attention.UntilTime, ExpiresAt: in(30 * 24 * time.Hour)})
	return map[string]string{
		"acks":        "/acknowledgements",
		"ackshistory": "/acknowledgements?status=history",
		"mutation":    web.MutationURL(open[1].ID),
		"mutationack": web.MutationURL(acked.MutationID),
	}
}
