// Package notify tells people about mutations: it decides which notification a change
// of a mutation is (Decide), builds the one documented JSON payload of it (NewPayload),
// and sends it to a receiver (the Webhook, Slack, PagerDuty, Alertmanager and Email
// senders). It is the sending half only: which events are written, when, and to which
// channel is the caller's (an outbox in the store, a River job per delivery).
//
// Every sender returns an error that says whether trying again may help (Retryable),
// and never carries a secret (a URL's token, a routing key, a password).
package notify

import (
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

// Type is the type of a notification event.
type Type string

const (
	// MutationOpened: a mutation (workload-divergence, tag-divergence, pin-mismatch)
	// opened.
	MutationOpened Type = "mutation.opened"
	// MutationChanged: an open mutation's set of digests changed (a digest joined or
	// left). A pod rescheduled onto the same digests is not a change.
	MutationChanged Type = "mutation.changed"
	// MutationResolved: an open or acknowledged mutation resolved, or a rule declared it
	// expected; Reason says which.
	MutationResolved Type = "mutation.resolved"
	// MutationAcknowledged: an open mutation was acknowledged; nothing more is sent
	// about it until its acknowledgement ends (then MutationOpened, if it is still
	// there) or it resolves.
	MutationAcknowledged Type = "mutation.acknowledged"
	// EventRecorded: a history event (tag-moved, pod-drift) was recorded. Such events
	// are born resolved: they are sent once and never resolve.
	EventRecorded Type = "event.recorded"
)

// Types lists every event type, in the order the documentation gives them.
var Types = []Type{MutationOpened, MutationChanged, MutationAcknowledged, MutationResolved, EventRecorded}

// Reason says why a mutation resolved, or why it opened again.
type Reason string

const (
	// ReasonConverged: a scan or re-check no longer detects the mutation.
	ReasonConverged Reason = "converged"
	// ReasonClusterDeleted: the mutation's cluster was deleted (sent before any purge).
	ReasonClusterDeleted Reason = "cluster-deleted"
	// ReasonExpected: a rule now declares the mutation's tag mutable.
	ReasonExpected Reason = "expected"
	// ReasonAcknowledgementEnded: on MutationOpened, the mutation's acknowledgement
	// ended (expired, revoked, or a digest joined) while it is still there.
	ReasonAcknowledgementEnded Reason = "acknowledgement-ended"
	// ReasonRepeat: on MutationOpened, a reminder that the mutation is still open, sent
	// by a route with a repeat interval that long after its last message about it. A
	// receiver that keeps what is open sees it open already; one that pages may page
	// again.
	ReasonRepeat Reason = "repeat"
)

// Mutation is a mutation as the API gives it: its id, the detected mutation, and when it
// was detected and resolved (nil while open).
type Mutation struct {
	ID int64
	detect.Mutation
	DetectedAt time.Time
	ResolvedAt *time.Time
	// State is the mutation's state after the event (attention.Decide's, as the state
	// column holds it); empty is the state the event's type means (NewPayload).
	State attention.State
}

// Event is one notification: what happened to which mutation.
type Event struct {
	// ID names the event stably across retries (a webhook's webhook-id, Alertmanager's
	// and PagerDuty's grouping stay on the mutation id). The outbox row gives it.
	ID   string
	Type Type
	// At is when it happened (the scan's time, or the deletion's).
	At time.Time
	// Reason is set on MutationResolved, and on a MutationOpened whose acknowledgement
	// ended (ReasonAcknowledgementEnded) or that reminds (ReasonRepeat).
	Reason Reason
	// Group is the cluster group of the mutation's cluster, "" for none.
	Group string
	// PreviousDigests is the set of digests before a MutationChanged.
	PreviousDigests []string
	Mutation        Mutation
	// Acknowledgement is the one a MutationAcknowledged names: who acknowledged the
	// mutation, why, until when. nil on the other types.
	Acknowledgement *Acknowledgement
}

// Acknowledgement is an acknowledgement as a notification tells it.
type Acknowledgement struct {
	ID int64 `json:"id"`
	// Actor is who acknowledged (who asked, for a viewer's request); ApprovedBy is the
	// admin who approved it, the same as Actor for an admin's own.
	Actor      string `json:"actor"`
	ApprovedBy string `json:"approvedBy"`
	Reason     string `json:"reason"`
	// Ticket is a link to the ticket that tracks it, "" for none.
	Ticket string `json:"ticket,omitempty"`
	// Scope is the matchers of an acknowledgement of a scope, "" for one of this
	// mutation alone.
	Scope string `json:"scope,omitempty"`
	// Until is how it ends: time (at ExpiresAt), resolved (when the mutation resolves)
	// or changed (when a digest joins it); the last two may have an ExpiresAt too.
	Until attention.Until `json:"until"`
	// ExpiresAt is when it ends at the latest, nil for no time.
	ExpiresAt *time.Time `json:"expiresAt"`
}

// History reports whether kind is a history kind (tag-moved, pod-drift): an event born
// resolved rather than a condition that opens and resolves.
func History(kind detect.Kind) bool {
	return kind == detect.TagMoved || kind == detect.PodDrift
}
