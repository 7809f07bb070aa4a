package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

// ClaimGroup checks a delivery never attempted against the routes that chose it, as
// they read now: one route still sending it is enough; deleted, moved to another
// channel, disabled or no longer matching, it is dropped with that reason, and a group
// leaves out its members so dropped. A delivery already attempted, and one that names
// no route (written before routes were remembered), are sent.
func TestClaimGroupChecksRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	other := mustChannel(t, s, "other", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	route := func(matchers string) Route {
		t.Helper()
		r, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, Matchers: matchers, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	wide, prodOnly, gone, moved, off := route(`cluster=~"prod|staging"`), route(`cluster="prod"`), route(""), route(""), route("")
	at := time.Now()
	payload := func(id int64, cluster string) []byte {
		b, err := notify.NewPayload(notify.Event{Type: notify.MutationOpened, At: at, Mutation: notify.Mutation{ID: id, Mutation: detect.Mutation{
			Kind: detect.WorkloadDivergence, Cluster: cluster, Namespace: "shop", Ref: "registry.example.com/web:1", Digests: []string{"sha256:a"},
		}}}, notify.PayloadConfig{}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	writeEvent := func(key, cluster string, baseline bool, routes ...int64) int64 {
		t.Helper()
		q, err := s.EnqueueNotifications(ctx, []OutboxEvent{{Type: "mutation.opened", Payload: payload(1, cluster), PayloadVersion: notify.PayloadVersion,
			At: at, GroupKey: key, Baseline: baseline, Deliveries: []OutboxDelivery{{ChannelID: hook.ID, NotBefore: at, RouteIDs: routes}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q[0].ID
	}
	write := func(key, cluster string, routes ...int64) int64 {
		t.Helper()
		return writeEvent(key, cluster, false, routes...)
	}
	// A group of one reference: prod and staging, both chosen by the wide route, and
	// staging by a route deleted since.
	head := write("web:1", "prod", wide.ID)
	staging := write("web:1", "staging", wide.ID)
	stagingTwice := write("web:1", "staging", gone.ID, wide.ID)
	legacy := write("web:1", "staging")
	alone := map[string]int64{
		DropRouteDeleted:  write("a", "prod", gone.ID),
		DropRouteMoved:    write("b", "prod", moved.ID),
		DropRouteDisabled: write("c", "prod", off.ID),
		DropRouteNoMatch:  write("d", "staging", prodOnly.ID),
		"":                write("e", "prod", off.ID, prodOnly.ID), // one of two still sends it
	}
	// A first scan's event, chosen by two routes that sent the baseline: one stops
	// sending it (dropped), the other keeps on (sent); and one chosen by the first only.
	baselineRoute := func() Route {
		t.Helper()
		r, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, Enabled: true, SendBaseline: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	stops, keeps := baselineRoute(), baselineRoute()
	baselineKept := writeEvent("g", "prod", true, stops.ID, keeps.ID)
	baselineDropped := writeEvent("h", "prod", true, stops.ID)
	notBaseline := write("i", "prod", stops.ID) // the same route still sends what is not a baseline
	retried := write("f", "staging", prodOnly.ID)
	if err := s.RecordAttempt(ctx, retried, at, "status-503", false); err != nil {
		t.Fatal(err)
	}

	// The edits, made while all of them wait.
	if err := s.DeleteRoute(ctx, testAudit, gone.ID); err != nil {
		t.Fatal(err)
	}
	moved.ChannelID = other.ID
	off.Enabled = false
	wide.Matchers = `cluster="prod"`
	stops.SendBaseline = false
	for _, r := range []Route{moved, off, wide, stops} {
		if _, err := s.UpdateRoute(ctx, testAudit, r); err != nil {
			t.Fatal(err)
		}
	}

	group, carried, dropped, err := s.ClaimGroup(ctx, head, time.Now(), true)
	if err != nil || !carried || dropped != 2 {
		t.Fatalf("head: carried %v, %d dropped, %v", carried, dropped, err)
	}
	var ids []int64
	for _, d := range group {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, []int64{legacy}) {
		t.Errorf("the group carries %v, want only the delivery that names no route (%d)", ids, legacy)
	}
	for _, id := range []int64{staging, stagingTwice} {
		if d, _ := s.Delivery(ctx, id); d.Status != DeliveryDropped || d.LastError != DropRouteNoMatch || d.MergedInto != 0 {
			t.Errorf("staging delivery %d: %s %q merged into %d", id, d.Status, d.LastError, d.MergedInto)
		}
	}
	for why, id := range alone {
		_, carried, dropped, err := s.ClaimGroup(ctx, id, time.Now(), true)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[why == ""]; dropped != want {
			t.Errorf("delivery %d: %d dropped, want %d", id, dropped, want)
		}
		d, _ := s.Delivery(ctx, id)
		switch {
		case why == "" && (!carried || d.Status != DeliveryPending):
			t.Errorf("delivery %d still routed: carried %v, %s %q", id, carried, d.Status, d.LastError)
		case why != "" && (carried || d.Status != DeliveryDropped || d.LastError != why):
			t.Errorf("delivery %d: carried %v, %s %q; want dropped, %s", id, carried, d.Status, d.LastError, why)
		}
	}
	for id, want := range map[int64]bool{baselineKept: true, notBaseline: true, baselineDropped: false} {
		_, carried, _, err := s.ClaimGroup(ctx, id, time.Now(), true)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := s.Delivery(ctx, id)
		if carried != want || (!want && (d.Status != DeliveryDropped || d.LastError != DropRouteNoMatch)) || d.Baseline != (id != notBaseline) {
			t.Errorf("delivery %d: carried %v (want %v), %s %q, baseline %v", id, carried, want, d.Status, d.LastError, d.Baseline)
		}
	}
	if _, carried, _, err := s.ClaimGroup(ctx, retried, time.Now(), false); err != nil || !carried {
		t.Errorf("an attempted delivery was not carried: %v, %v", carried, err)
	}
	// Dropped deliveries are not waited for, and are not failures.
	stats, err := s.ChannelStatsByID(ctx)
	if err != nil || stats[hook.ID].Failed != 0 {
		t.Errorf("stats %+v, %v", stats[hook.ID], err)
	}
}
