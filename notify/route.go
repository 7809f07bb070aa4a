package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// LabelNames are the labels routes match on, Alertmanager's alert labels too.
var LabelNames = []string{"alertname", "kind", "group", "cluster", "namespace", "workload", "container", "reference"}

// Route says which events go to one channel. It is the store's route with its matchers
// parsed.
type Route struct {
	ID        int64
	ChannelID int64
	// ChannelKind is the kind of the route's channel: a PagerDuty channel takes
	// event.recorded only when the route names it in Types.
	ChannelKind string
	// ClusterGroup limits the route to mutations of one cluster group; "" is all.
	ClusterGroup string
	// Kinds and Types limit it; empty is all (event.recorded to PagerDuty aside).
	Kinds []string
	Types []string
	// Matchers must all match the event's LabelSet; nil matches all.
	Matchers labels.Matchers
	// GroupWait delays the delivery so that what else opens for the reference in the
	// meantime goes in the same message.
	GroupWait time.Duration
	// SendBaseline sends what the first scan of a newly registered cluster opens.
	SendBaseline bool
}

// ParseMatchers parses a route's matchers in Alertmanager's syntax
// (`cluster=~"prod-.*", kind!="pin-mismatch"`, braces optional); "" is none. Every
// matcher must name one of LabelNames, so that a typo does not silently match nothing.
func ParseMatchers(s string) (labels.Matchers, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	ms, err := labels.ParseMatchers(s)
	if err != nil {
		return nil, fmt.Errorf("matchers: %w", err)
	}
	for _, m := range ms {
		if !slices.Contains(LabelNames, m.Name) {
			return nil, fmt.Errorf("matchers: unknown label %q: labels are %s", m.Name, strings.Join(LabelNames, ", "))
		}
	}
	return ms, nil
}

// ValidateRoute checks a route's kinds, types and matchers as the store keeps them.
func ValidateRoute(kinds, types []string, matchers string) error {
	for _, k := range kinds {
		if !slices.Contains(detect.Kinds(), detect.Kind(k)) {
			return fmt.Errorf("unknown mutation kind %q", k)
		}
	}
	for _, t := range types {
		if !slices.Contains(Types, Type(t)) {
			return fmt.Errorf("unknown event type %q", t)
		}
	}
	_, err := ParseMatchers(matchers)
	return err
}

// LabelSet is the label set of ev that routes match: the labels Alertmanager's alert
// carries, alertname DefaultAlertName. A label the mutation has no value for (the
// cluster of a tag-divergence across clusters) is "", which a matcher sees as absent.
func LabelSet(ev Event) model.LabelSet {
	m := ev.Mutation
	ls := model.LabelSet{
		"alertname": DefaultAlertName,
		"kind":      model.LabelValue(m.Kind),
		"group":     model.LabelValue(inventory.GroupName(groupOf(ev))),
		"cluster":   model.LabelValue(m.Cluster),
		"namespace": model.LabelValue(m.Namespace),
		"container": model.LabelValue(m.Container),
		"reference": model.LabelValue(m.Ref),
	}
	if m.Workload.Name != "" {
		ls["workload"] = model.LabelValue(m.Workload.Kind + "/" + m.Workload.Name)
	}
	return ls
}

// groupOf is the event's cluster group: the event's, else the mutation's.
func groupOf(ev Event) string {
	if ev.Group != "" {
		return ev.Group
	}
	return ev.Mutation.Group
}

// Matches reports whether ev goes through r. baseline says ev comes from the first
// scan of a newly registered cluster, which only routes with SendBaseline send.
func (r Route) Matches(ev Event, baseline bool) bool {
	if baseline && !r.SendBaseline {
		return false
	}
	if r.ClusterGroup != "" && inventory.GroupName(r.ClusterGroup) != inventory.GroupName(groupOf(ev)) {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, string(ev.Mutation.Kind)) {
		return false
	}
	switch {
	case len(r.Types) > 0:
		if !slices.Contains(r.Types, string(ev.Type)) {
			return false
		}
	case ev.Type == EventRecorded && r.ChannelKind == KindPagerDuty:
		// An incident for something born resolved only when asked for by name.
		return false
	}
	return r.Matchers.Matches(LabelSet(ev))
}

// Target is one channel an event goes to, and when at the earliest: the shortest group
// wait of the channel's routes that match. RouteIDs are those routes, which the
// delivery checks again when it is sent (RouteMatches).
type Target struct {
	ChannelID int64
	NotBefore time.Time
	RouteIDs  []int64
}

// Targets returns the channels ev goes to through routes, each once, in the order of
// their first matching route.
func Targets(routes []Route, ev Event, baseline bool) []Target {
	var out []Target
	for _, r := range routes {
		if !r.Matches(ev, baseline) {
			continue
		}
		at := ev.At.Add(r.GroupWait)
		i := slices.IndexFunc(out, func(t Target) bool { return t.ChannelID == r.ChannelID })
		if i < 0 {
			out = append(out, Target{ChannelID: r.ChannelID, NotBefore: at, RouteIDs: []int64{r.ID}})
			continue
		}
		out[i].RouteIDs = append(out[i].RouteIDs, r.ID)
		if at.Before(out[i].NotBefore) {
			out[i].NotBefore = at
		}
	}
	return out
}

// EventOf is the event a stored payload tells, as far as routes match on it: its type,
// reason, group and mutation, without places.
func EventOf(p Payload) Event {
	m := p.Mutation
	return Event{
		ID: p.ID, Type: p.Type, At: p.Timestamp, Reason: p.Reason, Group: p.Group,
		Mutation: Mutation{ID: m.ID, DetectedAt: m.DetectedAt, ResolvedAt: m.ResolvedAt, State: m.State, Mutation: detect.Mutation{
			Kind: m.Kind, Cluster: m.Cluster, Namespace: m.Namespace, Workload: m.Workload, Container: m.Container,
			Ref: m.Ref, Digests: m.Digests,
		}},
	}
}
