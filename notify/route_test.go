package notify_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

func routeEvent(typ notify.Type, kind detect.Kind, cluster, group string) notify.Event {
	return notify.Event{
		ID: "evt_1", Type: typ, At: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), Group: group,
		Mutation: notify.Mutation{ID: 1, Mutation: detect.Mutation{
			Kind: kind, Cluster: cluster, Namespace: "shop", Workload: inventory.Workload{Kind: "Deployment", Name: "web"},
			Container: "web", Ref: "registry.example.com/shop/web:1.4",
		}},
	}
}

func mustMatchers(t *testing.T, s string) notify.Route {
	t.Helper()
	ms, err := notify.ParseMatchers(s)
	if err != nil {
		t.Fatalf("ParseMatchers(%q): %v", s, err)
	}
	return notify.Route{Matchers: ms}
}

func TestRouteMatches(t *testing.T) {
	opened := routeEvent(notify.MutationOpened, detect.WorkloadDivergence, "prod-eu", "prod")
	recorded := routeEvent(notify.EventRecorded, detect.TagMoved, "prod-eu", "")
	for _, tc := range []struct {
		name     string
		route    notify.Route
		ev       notify.Event
		baseline bool
		want     bool
	}{
		{"empty route takes all", notify.Route{}, opened, false, true},
		{"matcher regexp", mustMatchers(t, `cluster=~"prod-.*"`), opened, false, true},
		{"matcher regexp anchored", mustMatchers(t, `cluster=~"prod"`), opened, false, false},
		{"matcher braces and several", mustMatchers(t, `{kind="workload-divergence", workload="Deployment/web", alertname="TagdriftMutation"}`), opened, false, true},
		{"matcher not equal", mustMatchers(t, `namespace!="shop"`), opened, false, false},
		{"matcher on reference", mustMatchers(t, `reference=~"registry.example.com/shop/.*"`), opened, false, true},
		{"kinds", notify.Route{Kinds: []string{"pin-mismatch"}}, opened, false, false},
		{"kinds hit", notify.Route{Kinds: []string{"pin-mismatch", "workload-divergence"}}, opened, false, true},
		{"types", notify.Route{Types: []string{"mutation.resolved"}}, opened, false, false},
		{"group", notify.Route{ClusterGroup: "prod"}, opened, false, true},
		{"other group", notify.Route{ClusterGroup: "staging"}, opened, false, false},
		{"default group by name", notify.Route{ClusterGroup: "default"}, recorded, false, true},
		{"default group matcher", mustMatchers(t, `group="default"`), recorded, false, true},
		{"group route misses default", notify.Route{ClusterGroup: "prod"}, recorded, false, false},
		{"baseline not sent", notify.Route{}, opened, true, false},
		{"baseline asked for", notify.Route{SendBaseline: true}, opened, true, true},
		{"event to webhook", notify.Route{ChannelKind: notify.KindWebhook}, recorded, false, true},
		{"event to pagerduty only when named", notify.Route{ChannelKind: notify.KindPagerDuty}, recorded, false, false},
		{"event to pagerduty named", notify.Route{ChannelKind: notify.KindPagerDuty, Types: []string{"event.recorded"}}, recorded, false, true},
		{"open to pagerduty", notify.Route{ChannelKind: notify.KindPagerDuty}, opened, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.route.Matches(tc.ev, tc.baseline); got != tc.want {
				t.Fatalf("Matches = %v, want %v (labels %v)", got, tc.want, notify.LabelSet(tc.ev))
			}
		})
	}
}

func TestParseMatchersRefuses(t *testing.T) {
	for s, want := range map[string]string{
		`clustr="x"`:      "unknown label",
		`cluster=~"(("`:   "matchers",
		`cluster="x" ,,"`: "matchers",
	} {
		if _, err := notify.ParseMatchers(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMatchers(%q) = %v, want an error with %q", s, err, want)
		}
	}
	if err := notify.ValidateRoute([]string{"tag-moved"}, []string{"mutation.opened"}, `cluster="a"`); err != nil {
		t.Errorf("ValidateRoute: %v", err)
	}
	if err := notify.ValidateRoute([]string{"tag-move"}, nil, ""); err == nil {
		t.Error("ValidateRoute accepted an unknown kind")
	}
	if err := notify.ValidateRoute(nil, []string{"mutation.open"}, ""); err == nil {
		t.Error("ValidateRoute accepted an unknown type")
	}
}

func TestTargets(t *testing.T) {
	ev := routeEvent(notify.MutationOpened, detect.PinMismatch, "prod-eu", "")
	routes := []notify.Route{
		{ID: 1, ChannelID: 10, GroupWait: 30 * time.Second},
		{ID: 2, ChannelID: 20, Kinds: []string{"tag-moved"}},
		{ID: 3, ChannelID: 10, GroupWait: 5 * time.Second},
		{ID: 4, ChannelID: 30},
	}
	got := notify.Targets(routes, ev, false)
	want := []notify.Target{{ChannelID: 10, NotBefore: ev.At.Add(5 * time.Second), RouteIDs: []int64{1, 3}}, {ChannelID: 30, NotBefore: ev.At, RouteIDs: []int64{4}}}
	if len(got) != len(want) {
		t.Fatalf("Targets = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].ChannelID != want[i].ChannelID || !got[i].NotBefore.Equal(want[i].NotBefore) || !slices.Equal(got[i].RouteIDs, want[i].RouteIDs) {
			t.Fatalf("Targets = %v, want %v", got, want)
		}
	}
	if got := notify.Targets(routes, ev, true); len(got) != 0 {
		t.Fatalf("baseline Targets = %v, want none", got)
	}
}
