package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Alertmanager posts each mutation as an alert (POST /api/v2/alerts). An open mutation
// is an alert whose endsAt is four repost intervals ahead, as Prometheus does: the
// caller reposts the open ones every RepostInterval (Repost), and an alert that stops
// being reposted (tagdrift gone) ends by itself rather than firing forever. A resolved
// mutation is posted once more with endsAt its resolution. A recorded event (tag-moved,
// pod-drift) is an alert that ends EventTTL after it, by itself.
type Alertmanager struct {
	// URL is Alertmanager's root (http://alertmanager:9093); credentials, if any, in
	// its userinfo.
	URL string
	// AlertName is the alertname label. Default TagdriftMutation.
	AlertName string
	// RepostInterval is how often the caller reposts the open alerts. Default 1 min.
	RepostInterval time.Duration
	// EventTTL is how long a recorded event's alert fires. Default 1 h.
	EventTTL time.Duration
	// Client sends; nil is NewHTTPClient's.
	Client *http.Client
	// Now is the clock of endsAt; nil is time.Now.
	Now func() time.Time
}

// Defaults of Alertmanager's fields.
const (
	DefaultAlertName      = "TagdriftMutation"
	DefaultRepostInterval = time.Minute
	DefaultEventTTL       = time.Hour
)

// Alert is an alert as Alertmanager's API v2 takes it (its PostableAlert).
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// AlertOf is p as an alert. Its labels are a fixed set (alertname, kind, group,
// cluster, namespace, workload, container, reference), those a mutation lacks left out,
// and mutation_id, so that two mutations of one workload stay two alerts. Alertmanager
// knows an alert by its labels: every event of one mutation must carry the same Group,
// or the resolution ends another alert and the first one fires until its endsAt.
func (a *Alertmanager) AlertOf(p Payload) Alert {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	m := p.Mutation
	labels := map[string]string{"alertname": cmp.Or(a.AlertName, DefaultAlertName), "mutation_id": strconv.FormatInt(m.ID, 10)}
	for k, v := range map[string]string{
		"kind": string(m.Kind), "group": p.Group, "cluster": m.Cluster, "namespace": m.Namespace,
		"container": m.Container, "reference": m.Ref,
	} {
		if v != "" {
			labels[k] = v
		}
	}
	if m.Workload.Name != "" {
		labels["workload"] = m.Workload.Kind + "/" + m.Workload.Name
	}
	al := Alert{
		Labels: labels,
		Annotations: map[string]string{
			"summary": Title(p), "description": strings.Join(DigestLines(p), "\n"),
			"event_type": string(p.Type), "ui_url": p.Links.UI, "api_url": p.Links.API,
		},
		StartsAt:     m.DetectedAt,
		GeneratorURL: p.Links.UI,
	}
	switch {
	case p.Type == EventRecorded:
		al.StartsAt = p.Timestamp
		al.EndsAt = p.Timestamp.Add(cmp.Or(a.EventTTL, DefaultEventTTL))
	case p.Type == MutationResolved:
		al.Annotations["reason"] = string(p.Reason)
		al.EndsAt = p.Timestamp
		if m.ResolvedAt != nil {
			al.EndsAt = *m.ResolvedAt
		}
	default:
		al.EndsAt = now().Add(4 * cmp.Or(a.RepostInterval, DefaultRepostInterval)).UTC()
	}
	return al
}

// Send posts p's alert once.
func (a *Alertmanager) Send(ctx context.Context, p Payload) error {
	return a.post(ctx, []Alert{a.AlertOf(p)})
}

// Repost posts the alerts of the open mutations again, in one request, so that they
// keep firing: the caller calls it every RepostInterval with the latest payload of
// each mutation still open.
func (a *Alertmanager) Repost(ctx context.Context, open []Payload) error {
	alerts := make([]Alert, len(open))
	for i, p := range open {
		alerts[i] = a.AlertOf(p)
	}
	return a.post(ctx, alerts)
}

func (a *Alertmanager) post(ctx context.Context, alerts []Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encode %d alerts: %w", len(alerts), err)
	}
	return post(ctx, clientOr(a.Client), "alertmanager", strings.TrimSuffix(a.URL, "/")+"/api/v2/alerts", nil, body)
}
