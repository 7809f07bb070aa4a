package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// mutationJSON is a mutation as `tagdrift scan -o json` shows it, with its id, when
// it was detected and resolved (null while open), its state and why it is not open.
type mutationJSON struct {
	ID int64 `json:"id"`
	detect.Mutation
	// RawPlaces, when set, is the places as the store keeps them encoded (a list read
	// with RawPlaces): it stands in the place of Mutation.Places, which is the last
	// field there, so the keys keep their order.
	RawPlaces  json.RawMessage `json:"places,omitempty"`
	DetectedAt time.Time       `json:"detectedAt"`
	ResolvedAt *time.Time      `json:"resolvedAt"`
	// Letters are the digests' letters under the reference, in the digests' order ("" for
	// one without).
	Letters []string `json:"letters"`
	mutationState
}

// mutationState is a mutation's state (attention.Decide's, as the store's column
// holds it: open, acknowledged, expected, resolved) and what made it so: the
// acknowledgement that covers it or the rule that makes it expected. The stored
// bodies hold only places: the state is read with every list and encoded here, so a
// change of state needs no body rewritten.
type mutationState struct {
	State           string            `json:"state"`
	Acknowledgement *mutationAckJSON  `json:"acknowledgement,omitempty"`
	Rule            *mutationRuleJSON `json:"rule,omitempty"`
}

// mutationAckJSON is the acknowledgement that covers a mutation.
type mutationAckJSON struct {
	ID        int64      `json:"id"`
	By        string     `json:"by"`
	Reason    string     `json:"reason"`
	Ticket    string     `json:"ticket"`
	Until     string     `json:"until"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// mutationRuleJSON is the rule that makes a mutation expected.
type mutationRuleJSON struct {
	ID        int64      `json:"id"`
	Scope     string     `json:"scope"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// stateOf is m's state and why, from the rules and acknowledgements store.Reasons
// read for the list m is in. One that went missing between the two reads (a rule
// deleted with its history) leaves the state without its why rather than failing.
func stateOf(m store.Mutation, rules map[int64]store.Rule, acks map[int64]store.Ack) mutationState {
	s := mutationState{State: string(m.State)}
	if k, ok := acks[m.Ack]; ok && m.Ack != 0 {
		s.Acknowledgement = &mutationAckJSON{ID: k.ID, By: k.RequestedBy, Reason: k.Reason, Ticket: k.Ticket,
			Until: string(k.Until), ExpiresAt: request.UTCPtr(k.ExpiresAt)}
	}
	if rl, ok := rules[m.Rule]; ok && m.Rule != 0 {
		s.Rule = &mutationRuleJSON{ID: rl.ID, Scope: rl.Scope, Reason: rl.Reason, ExpiresAt: request.UTCPtr(rl.ExpiresAt)}
	}
	return s
}

// mutationLetters reads the letters of the digests of ms.
func (a *API) mutationLetters(ctx context.Context, ms []store.Mutation) (map[store.RefDigest]string, error) {
	var keys []store.RefDigest
	for _, m := range ms {
		for _, d := range m.Digests {
			keys = append(keys, store.RefDigest{Ref: m.Ref, Digest: d})
		}
	}
	letters, err := a.st.Letters(ctx, keys, scopeOf(ctx))
	if err != nil {
		return nil, request.About(err, "letters of the mutations' digests")
	}
	return letters, nil
}

func toMutationJSON(m store.Mutation, rules map[int64]store.Rule, acks map[int64]store.Ack, letters map[store.RefDigest]string) mutationJSON {
	if m.Digests == nil {
		m.Digests = []string{}
	}
	j := mutationJSON{ID: m.ID, Mutation: m.Mutation, RawPlaces: m.PlacesJSON, DetectedAt: request.UTC(m.DetectedAt),
		ResolvedAt: request.UTCPtr(m.ResolvedAt), Letters: make([]string, len(m.Digests)), mutationState: stateOf(m, rules, acks)}
	for i, d := range m.Digests {
		j.Letters[i] = letters[store.RefDigest{Ref: m.Ref, Digest: d}]
	}
	if j.RawPlaces == nil {
		places := m.Places
		if places == nil {
			places = []detect.Place{}
		}
		// As the answer around it is encoded (no HTML escaping). Cannot fail: a place
		// is strings.
		j.RawPlaces, _ = request.EncodeJSON(places)
	}
	return j
}

func (a *API) listMutations(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "cluster", "group", "namespace", "kind", "state", "ref", "workload", "since", "until",
		"limit", "cursor")
	if err != nil {
		return err
	}
	f, filter, err := request.MutationFilter(q, a.now())
	if err != nil {
		return err
	}
	limit := f.Limit - 1
	f.RawPlaces = true
	f.Scope = scopeOf(r.Context())
	ms, err := a.st.ListMutations(r.Context(), f)
	if err != nil {
		return request.About(err, "list mutations")
	}
	rules, acks, err := a.st.Reasons(r.Context(), ms, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "list mutations")
	}
	letters, err := a.mutationLetters(r.Context(), ms)
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, len(ms))
	for i, m := range ms {
		if items[i], err = mutationItem(toMutationJSON(m, rules, acks, letters)); err != nil {
			return err
		}
	}
	return request.Respond(w, http.StatusOK, rawList(request.Page(items, limit, func(json.RawMessage) request.Cursor {
		return request.Cursor{List: "mutations", Filter: filter, ID: ms[limit-1].ID}
	})))
}

// mutationHead is a mutation's keys before its places: Places, unset, hides
// Mutation.Places.
type mutationHead struct {
	ID int64 `json:"id"`
	detect.Mutation
	Places *struct{} `json:"places,omitempty"`
}

// mutationTail is a mutation's keys after its places.
type mutationTail struct {
	DetectedAt time.Time  `json:"detectedAt"`
	ResolvedAt *time.Time `json:"resolvedAt"`
	Letters    []string   `json:"letters"`
	mutationState
}

// mutationItem encodes m as request.EncodeJSON does, its places, encoded already, spliced in as
// they are: encoding/json would pass over every byte of them again (half the CPU of a
// list of mutations).
func mutationItem(m mutationJSON) (json.RawMessage, error) {
	head, err := request.EncodeJSON(mutationHead{ID: m.ID, Mutation: m.Mutation})
	if err != nil {
		return nil, err
	}
	tail, err := request.EncodeJSON(mutationTail{DetectedAt: m.DetectedAt, ResolvedAt: m.ResolvedAt, Letters: m.Letters, mutationState: m.mutationState})
	if err != nil {
		return nil, err
	}
	head, tail = bytes.TrimSuffix(head, []byte("}\n")), bytes.TrimPrefix(bytes.TrimSuffix(tail, []byte("\n")), []byte("{"))
	places := []byte(m.RawPlaces)
	if bytes.ContainsAny(places, " \t\r\n") {
		// Places encoded by migration 000020's SQL have spaces between keys and values.
		var buf bytes.Buffer
		if err := json.Compact(&buf, places); err != nil {
			return nil, fmt.Errorf("places of mutation %d: %w", m.ID, err)
		}
		places = buf.Bytes()
	}
	b := make([]byte, 0, len(head)+len(places)+len(tail)+12)
	b = append(append(append(b, head...), `,"places":`...), places...)
	return append(append(b, ','), tail...), nil
}

func (a *API) getMutation(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "mutation")
	if err != nil {
		return err
	}
	m, err := a.st.MutationByID(r.Context(), id, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "mutation %d", id)
	}
	rules, acks, err := a.st.Reasons(r.Context(), []store.Mutation{m}, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "mutation %d", id)
	}
	letters, err := a.mutationLetters(r.Context(), []store.Mutation{m})
	if err != nil {
		return err
	}
	return request.Respond(w, http.StatusOK, toMutationJSON(m, rules, acks, letters))
}
