package notify

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// Alertmanager posts each mutation as an alert (POST /api/v2/alerts) with Alertmanager's
// own client packages. An open mutation
// is an alert whose endsAt is four repost intervals ahead, as Prometheus does: the
// caller reposts the open ones every RepostInterval (Repost), and an alert that stops
// being reposted (tagdrift gone) ends by itself rather than firing forever. A resolved
// mutation is posted once more with endsAt its resolution, an acknowledged one with
// endsAt the acknowledgement and a state annotation that says who acknowledged it,
// until when and why (when its acknowledgement ends, mutation.opened fires it again).
// A recorded event (tag-moved, pod-drift) is an alert that ends EventTTL after it, by
// itself.
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

// AlertOf is p as an alert. Its labels are a fixed set (alertname, kind, group,
// cluster, namespace, workload, container, reference), those a mutation lacks left out,
// and mutation_id, so that two mutations of one workload stay two alerts. Alertmanager
// knows an alert by its labels: every event of one mutation must carry the same Group,
// or the resolution ends another alert and the first one fires until its endsAt.
func (a *Alertmanager) AlertOf(p Payload) *models.PostableAlert {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	m := p.Mutation
	labels := models.LabelSet{"alertname": cmp.Or(a.AlertName, DefaultAlertName), "mutation_id": strconv.FormatInt(m.ID, 10)}
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
	annotations := models.LabelSet{
		"summary": Title(p), "description": strings.Join(DigestLines(p), "\n"),
		"event_type": string(p.Type), "ui_url": p.Links.UI, "api_url": p.Links.API,
	}
	if p.Reason != "" {
		// Why it resolved, or why it fires again (acknowledgement-ended).
		annotations["reason"] = string(p.Reason)
	}
	startsAt, endsAt := m.DetectedAt, time.Time{}
	switch {
	case p.Type == EventRecorded:
		startsAt = p.Timestamp
		endsAt = p.Timestamp.Add(cmp.Or(a.EventTTL, DefaultEventTTL))
	case p.Type == MutationResolved:
		if p.Reason == ReasonExpected {
			annotations["state"] = "expected: a rule declares its tag mutable"
		}
		endsAt = p.Timestamp
		if m.ResolvedAt != nil {
			endsAt = *m.ResolvedAt
		}
	case p.Type == MutationAcknowledged:
		// Acknowledged, the alert ends now (it is not reposted any more), saying why;
		// when the acknowledgement ends and the mutation is still there, mutation.opened
		// fires it again.
		annotations["state"] = "acknowledged"
		if p.Acknowledgement != nil {
			annotations["state"] = AckSummary(p.Acknowledgement)
			if p.Acknowledgement.Ticket != "" {
				annotations["ticket_url"] = p.Acknowledgement.Ticket
			}
		}
		endsAt = p.Timestamp
		if !startsAt.Before(endsAt) {
			// Alertmanager refuses an alert that ends before it starts.
			endsAt = startsAt
		}
	default:
		endsAt = now().Add(4 * cmp.Or(a.RepostInterval, DefaultRepostInterval)).UTC()
	}
	return &models.PostableAlert{
		Alert:       models.Alert{Labels: labels, GeneratorURL: strfmt.URI(p.Links.UI)},
		Annotations: annotations,
		StartsAt:    strfmt.DateTime(startsAt),
		EndsAt:      strfmt.DateTime(endsAt),
	}
}

// Send posts p's alert once.
func (a *Alertmanager) Send(ctx context.Context, p Payload) error {
	return a.post(ctx, models.PostableAlerts{a.AlertOf(p)})
}

// Repost posts the alerts of the open mutations again, in requests of 256 at most
// (post), so that they keep firing: the caller calls it every RepostInterval with the
// latest payload of each mutation still open. SendGroup posts a group with it too.
func (a *Alertmanager) Repost(ctx context.Context, open []Payload) error {
	alerts := make(models.PostableAlerts, len(open))
	for i, p := range open {
		alerts[i] = a.AlertOf(p)
	}
	return a.post(ctx, alerts)
}

// alertmanagerMaxBatch is how many alerts one request carries at most: Prometheus's
// batch (its notifier's maxBatchSize), so that a fleet-wide change or the repost of
// thousands of open alerts is requests of a size Alertmanager is used to.
const alertmanagerMaxBatch = 256

// post posts alerts, in requests of at most alertmanagerMaxBatch. The first failure
// ends it: its retry posts them all again, which Alertmanager takes as the same
// alerts (it knows one by its labels).
func (a *Alertmanager) post(ctx context.Context, alerts models.PostableAlerts) error {
	if len(alerts) == 0 {
		return nil
	}
	api, err := a.api()
	if err != nil {
		return err
	}
	for batch := range slices.Chunk(alerts, alertmanagerMaxBatch) {
		if _, err := api.Alert.PostAlerts(alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(batch)); err != nil {
			return alertmanagerError(ctx, err)
		}
	}
	return nil
}

// api is Alertmanager's own client (go-openapi) over a.Client, with the credentials of
// the URL's userinfo.
func (a *Alertmanager) api() (*client.AlertmanagerAPI, error) {
	u, err := url.Parse(a.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		// Not quoted: it may hold credentials.
		return nil, &Error{Channel: "alertmanager", Class: "bad-url"}
	}
	rt := httptransport.NewWithClient(u.Host, path.Join("/", u.Path, client.DefaultBasePath), []string{u.Scheme}, clientOr(a.Client))
	if u.User != nil {
		password, _ := u.User.Password()
		rt.DefaultAuthentication = httptransport.BasicAuth(u.User.Username(), password)
	}
	return client.New(rt, strfmt.Default), nil
}

// alertmanagerError classes what the client returned, as post does for the others: the
// client's own errors quote the answer.
func alertmanagerError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var bad *alert.PostAlertsBadRequest
	var internal *alert.PostAlertsInternalServerError
	var other *runtime.APIError
	switch {
	case errors.As(err, &bad):
		return statusError("alertmanager", &http.Response{StatusCode: http.StatusBadRequest})
	case errors.As(err, &internal):
		return statusError("alertmanager", &http.Response{StatusCode: http.StatusInternalServerError})
	case errors.As(err, &other):
		return statusError("alertmanager", &http.Response{StatusCode: other.Code})
	}
	return transportError(ctx, "alertmanager", err)
}
