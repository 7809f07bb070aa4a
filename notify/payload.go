package notify

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// PayloadConfig is what the payload needs besides the event.
type PayloadConfig struct {
	// BaseURL is tagdrift's external URL (https://tagdrift.example.com), the root of the
	// links. Empty gives relative links.
	BaseURL string
	// MaxPlaces is how many places each digest lists before "and N more". Default 5.
	MaxPlaces int
}

// PayloadVersion is the shape of Payload, stored with each payload rendered into the
// outbox. It changes when a field changes meaning or goes, or comes: 2 added the
// mutation's state and mutation.acknowledged's acknowledgement.
const PayloadVersion = 2

// DefaultMaxPlaces is PayloadConfig.MaxPlaces's default.
const DefaultMaxPlaces = 5

// Payload is the one JSON document every channel is built from, and the body a webhook
// receives (documented in the OpenAPI document as NotificationEvent). Exactly one of
// Change, Digests and Pin is set, as the mutation's kind means its digests.
type Payload struct {
	// ID is the event's id, the webhook-id header's value too: stable across retries,
	// so that a receiver drops duplicates by it.
	ID        string    `json:"id"`
	Type      Type      `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	// Reason says why a mutation.resolved resolved (converged, cluster-deleted,
	// expected), or why a mutation.opened is sent again (acknowledgement-ended, or
	// repeat: a reminder that it is still open).
	Reason Reason `json:"reason,omitempty"`
	// Group is the cluster group of the mutation's cluster, when it has one.
	Group    string          `json:"group,omitempty"`
	Mutation PayloadMutation `json:"mutation"`
	// Change is a tag-moved's or pod-drift's: the digest before and after.
	Change *Change `json:"change,omitempty"`
	// Digests is a divergence's: each digest and where it runs.
	Digests []DigestPlaces `json:"digests,omitempty"`
	// Pin is a pin-mismatch's: the pin and what runs instead.
	Pin *Pin `json:"pin,omitempty"`
	// Added and Removed are a mutation.changed's: the digests that joined and left.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Acknowledgement is a mutation.acknowledged's: who acknowledged, why, until when.
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`
	Links           Links            `json:"links"`
	// Grouped are the other events of the same reference that the group wait gathered
	// into this message (Merge), each with its own id, type and mutation; the message's
	// id, type and digests are its first event's.
	Grouped []GroupedEvent `json:"grouped,omitempty"`
}

// GroupedEvent is one more event carried in a message.
type GroupedEvent struct {
	ID       string          `json:"id"`
	Type     Type            `json:"type"`
	Reason   Reason          `json:"reason,omitempty"`
	Mutation PayloadMutation `json:"mutation"`
	// Acknowledgement is a mutation.acknowledged's.
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`
	Links           Links            `json:"links"`
}

// PayloadMutation is the mutation as the API gives it (GET /api/v1/mutations/{id}),
// without its places, which the payload lists by digest, capped.
type PayloadMutation struct {
	ID         int64              `json:"id"`
	Kind       detect.Kind        `json:"kind"`
	Cluster    string             `json:"cluster"`
	Namespace  string             `json:"namespace"`
	Workload   inventory.Workload `json:"workload"`
	Container  string             `json:"container"`
	Ref        string             `json:"ref"`
	Digests    []string           `json:"digests"`
	DetectedAt time.Time          `json:"detectedAt"`
	ResolvedAt *time.Time         `json:"resolvedAt"`
	// State is the mutation's state after the event: open, acknowledged, expected or
	// resolved.
	State attention.State `json:"state"`
}

// Change is a history event's digests: the tag (or the pod) ran From, then To.
type Change struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Places []Place `json:"places"`
}

// DigestPlaces is one digest and where it runs: at most MaxPlaces places, and how many
// more there are.
type DigestPlaces struct {
	Digest     string  `json:"digest"`
	Places     []Place `json:"places"`
	MorePlaces int     `json:"morePlaces"`
}

// Pin is a pin-mismatch's digests: the pinned one and those running instead.
type Pin struct {
	Pinned  string         `json:"pinned"`
	Running []DigestPlaces `json:"running"`
}

// Place is one pod's container.
type Place struct {
	Cluster   string             `json:"cluster"`
	Namespace string             `json:"namespace"`
	Workload  inventory.Workload `json:"workload"`
	Pod       string             `json:"pod"`
	Container string             `json:"container"`
}

// Links point at the mutation in the UI and in the API.
type Links struct {
	UI  string `json:"ui"`
	API string `json:"api"`
}

// NewPayload builds the payload of ev.
func NewPayload(ev Event, cfg PayloadConfig) Payload {
	maxPlaces := cmp.Or(cfg.MaxPlaces, DefaultMaxPlaces)
	m := ev.Mutation
	p := Payload{
		ID: ev.ID, Type: ev.Type, Timestamp: ev.At.UTC(), Reason: ev.Reason, Group: ev.Group,
		Mutation: PayloadMutation{
			ID: m.ID, Kind: m.Kind, Cluster: m.Cluster, Namespace: m.Namespace, Workload: m.Workload,
			Container: m.Container, Ref: m.Ref, Digests: nonNil(m.Digests), DetectedAt: m.DetectedAt.UTC(),
			State: cmp.Or(m.State, stateOf(ev)),
		},
		Links: links(cfg.BaseURL, m),
	}
	if m.ResolvedAt != nil {
		at := m.ResolvedAt.UTC()
		p.Mutation.ResolvedAt = &at
	}
	if ev.Type == MutationChanged {
		p.Added, p.Removed = diff(ev.PreviousDigests, m.Digests)
	}
	if ev.Type == MutationAcknowledged && ev.Acknowledgement != nil {
		a := *ev.Acknowledgement
		if a.ExpiresAt != nil {
			at := a.ExpiresAt.UTC()
			a.ExpiresAt = &at
		}
		p.Acknowledgement = &a
	}
	switch {
	case History(m.Kind):
		c := &Change{Places: []Place{}}
		if len(m.Digests) == 2 {
			c.From, c.To = m.Digests[0], m.Digests[1]
		}
		for _, dp := range byDigest([]string{c.To}, m.Places, maxPlaces) {
			c.Places = dp.Places
		}
		p.Change = c
	case m.Kind == detect.PinMismatch:
		_, pin, _ := strings.Cut(m.Ref, "@")
		p.Pin = &Pin{Pinned: pin, Running: byDigest(m.Digests, m.Places, maxPlaces)}
	default:
		p.Digests = byDigest(m.Digests, m.Places, maxPlaces)
	}
	return p
}

// stateOf is the state an event leaves its mutation in, when the caller does not say.
func stateOf(ev Event) attention.State {
	switch ev.Type {
	case MutationOpened, MutationChanged:
		return attention.StateOpen
	case MutationAcknowledged:
		return attention.StateAcknowledged
	case MutationResolved:
		if ev.Reason == ReasonExpected {
			return attention.StateExpected
		}
	}
	return attention.StateResolved
}

// Marshal encodes p as the webhook body: JSON as the API writes it, without HTML
// escaping (a link's & stays &).
func (p Payload) Marshal() ([]byte, error) {
	b, err := marshalJSON(p)
	if err != nil {
		return nil, fmt.Errorf("encode payload of event %s: %w", p.ID, err)
	}
	return b, nil
}

// marshalJSON encodes v as Marshal does: without HTML escaping, no newline after.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// byDigest lists, for each digest in order, the places that run it: at most max, the
// rest counted.
func byDigest(digests []string, places []detect.Place, max int) []DigestPlaces {
	out := make([]DigestPlaces, 0, len(digests))
	for _, d := range digests {
		dp := DigestPlaces{Digest: d, Places: []Place{}}
		for _, pl := range places {
			if pl.Digest != d {
				continue
			}
			if len(dp.Places) == max {
				dp.MorePlaces++
				continue
			}
			dp.Places = append(dp.Places, Place{
				Cluster: pl.Cluster, Namespace: pl.Namespace, Workload: pl.Workload, Pod: pl.Pod, Container: pl.Container,
			})
		}
		out = append(out, dp)
	}
	return out
}

// diff returns the digests of cur not in prev, and those of prev not in cur, sorted.
func diff(prev, cur []string) (added, removed []string) {
	p, c := set(prev), set(cur)
	for _, d := range c {
		if !contains(p, d) {
			added = append(added, d)
		}
	}
	for _, d := range p {
		if !contains(c, d) {
			removed = append(removed, d)
		}
	}
	return added, removed
}

// nonNil returns s, or an empty slice for nil, so that JSON says [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func contains(sorted []string, s string) bool {
	for _, x := range sorted {
		if x == s {
			return true
		}
	}
	return false
}

// links returns the UI page that shows the mutation (its workload's page when it has
// one workload, else the mutations list filtered to its reference) and its API
// resource.
func links(base string, m Mutation) Links {
	base = strings.TrimSuffix(base, "/")
	l := Links{API: fmt.Sprintf("%s/api/v1/mutations/%d", base, m.ID)}
	if m.Cluster != "" && m.Namespace != "" && m.Workload.Name != "" {
		l.UI = base + "/workloads/" + url.PathEscape(m.Cluster) + "/" + url.PathEscape(m.Namespace) + "/" +
			url.PathEscape(m.Workload.Kind) + "/" + url.PathEscape(m.Workload.Name)
		return l
	}
	q := url.Values{"ref": {m.Ref}, "state": {"all"}}
	if m.Cluster != "" {
		q.Set("cluster", m.Cluster)
	}
	l.UI = base + "/mutations?" + q.Encode()
	return l
}

// ReferenceLink is the UI page of every mutation of p's reference, open or not: the
// link of a merged message, whose events are many mutations of it. Its root is the one
// of p's links.
func ReferenceLink(p Payload) string {
	base, _, _ := strings.Cut(p.Links.API, "/api/v1/mutations/")
	q := url.Values{"ref": {p.Mutation.Ref}, "state": {"all"}}
	return base + "/mutations?" + q.Encode()
}
