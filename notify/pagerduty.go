package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// PagerDutyEventsURL is the Events API v2 endpoint.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty sends PagerDuty Events API v2 events: a trigger when a mutation opens or
// changes (or an event is recorded, when a route sends events there), an acknowledge
// when it is acknowledged, a resolve when it resolves, each with the mutation's id as dedup_key so that they land on one alert.
type PagerDuty struct {
	// RoutingKey is the integration key; a secret.
	RoutingKey string
	// URL is the endpoint; empty is PagerDutyEventsURL.
	URL string
	// Severity of triggers: critical, error, warning or info. Default warning.
	Severity string
	// Client sends; nil is NewHTTPClient's.
	Client *http.Client
}

// PagerDutyEvent is the Events API v2 body (developer.pagerduty.com, "Send an Alert
// Event"); an acknowledge and a resolve carry only the routing key, the action and the
// dedup key.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
	Links       []PagerDutyLink   `json:"links,omitempty"`
}

// PagerDutyPayload is a trigger's description of the alert.
type PagerDutyPayload struct {
	Summary       string  `json:"summary"`
	Source        string  `json:"source"`
	Severity      string  `json:"severity"`
	Timestamp     string  `json:"timestamp"`
	Component     string  `json:"component,omitempty"`
	Group         string  `json:"group,omitempty"`
	Class         string  `json:"class"`
	CustomDetails Payload `json:"custom_details"`
}

// PagerDutyLink is a link shown on the alert.
type PagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pagerDutyMaxSummary is the Events API's limit on summary.
const pagerDutyMaxSummary = 1024

// PagerDutyEventOf is p as the event PagerDuty is sent.
func PagerDutyEventOf(p Payload, routingKey, severity string) PagerDutyEvent {
	ev := PagerDutyEvent{RoutingKey: routingKey, DedupKey: strconv.FormatInt(p.Mutation.ID, 10)}
	switch p.Type {
	case MutationResolved:
		ev.EventAction = "resolve"
		return ev
	case MutationAcknowledged:
		// The same dedup_key acknowledges the incident the trigger opened; a resolve
		// later closes it, and a trigger when the acknowledgement ends opens it again.
		ev.EventAction = "acknowledge"
		return ev
	}
	ev.EventAction = "trigger"
	source := cmp.Or(p.Mutation.Cluster, "tagdrift")
	ev.Payload = &PagerDutyPayload{
		Summary: truncate(Title(p), pagerDutyMaxSummary), Source: source, Severity: cmp.Or(severity, "warning"),
		Timestamp: p.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"), Component: p.Mutation.Ref,
		Group: p.Mutation.Namespace, Class: string(p.Mutation.Kind), CustomDetails: p,
	}
	ev.Links = []PagerDutyLink{{Href: p.Links.UI, Text: "Open in tagdrift"}}
	return ev
}

// Send sends p's event once.
func (d *PagerDuty) Send(ctx context.Context, p Payload) error {
	body, err := json.Marshal(PagerDutyEventOf(p, d.RoutingKey, d.Severity))
	if err != nil {
		return fmt.Errorf("encode pagerduty event of event %s: %w", p.ID, err)
	}
	return post(ctx, clientOr(d.Client), "pagerduty", cmp.Or(d.URL, PagerDutyEventsURL), nil, body)
}
