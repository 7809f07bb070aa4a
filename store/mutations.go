package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// Mutation is a stored mutation: the detected one, and when it was detected and
// resolved.
type Mutation struct {
	ID int64
	detect.Mutation
	DetectedAt time.Time
	ResolvedAt *time.Time
	// State is attention.Decide's, as the state column holds it; Rule and Ack name the
	// rule that makes it expected or the acknowledgement that covers it (0 for none).
	State attention.State
	Rule  int64
	Ack   int64
	// PlacesJSON holds Places as the store's BodyEncoder encodes them, read instead of
	// Places when MutationFilter.RawPlaces asks.
	PlacesJSON []byte
}

// Reconciled is what a reconciliation of stored conditions changed.
type Reconciled struct {
	Opened, Updated, Resolved int
}

// Changed reports whether anything changed.
func (r Reconciled) Changed() bool { return r.Opened+r.Updated+r.Resolved > 0 }

// scope is what a reconciliation settles: the workload-divergences and pin-mismatches
// of one cluster (clusterID, 0 for none), and the tag-divergences of refs.
type scope struct {
	clusterID int64
	refs      []string
}

// reconcile makes the open conditions of a scope match what was detected: new ones are
// opened, changed ones updated, and those no longer detected resolved at at; the state
// of each it touched is then settled (settleChanges). detected
// must hold only mutations of that scope. It leaves the data version to the caller,
// which bumps it last. It returns the changes too, for the outbox.
func reconcile(ctx context.Context, tx pgx.Tx, enc bodies, sc scope, detected []detect.Mutation, at time.Time) (Reconciled, []mutationChange, error) {
	var r Reconciled
	var changes []mutationChange
	rows, err := tx.Query(ctx, `
		SELECT id, identity, kind, digests, places::text, state FROM mutations
		WHERE resolved_at IS NULL AND ((cluster_id = $1 AND kind IN ('workload-divergence', 'pin-mismatch'))
		   OR (kind = 'tag-divergence' AND ref = ANY($2)))
		FOR UPDATE`, sc.clusterID, sc.refs)
	if err != nil {
		return r, nil, fmt.Errorf("read open mutations: %w", err)
	}
	type open struct {
		id      int64
		kind    string
		digests []string
		places  string
		state   attention.State
	}
	current := map[string]open{}
	for rows.Next() {
		var o open
		var ident string
		if err := rows.Scan(&o.id, &ident, &o.kind, &o.digests, &o.places, &o.state); err != nil {
			rows.Close()
			return r, nil, fmt.Errorf("read open mutations: %w", err)
		}
		current[ident] = o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, nil, fmt.Errorf("read open mutations: %w", err)
	}
	for _, m := range detected {
		places, placesJSON, err := enc.places(m)
		if err != nil {
			return r, nil, err
		}
		if o, ok := current[m.Identity]; ok {
			delete(current, m.Identity)
			if slices.Equal(o.digests, m.Digests) && jsonEqual(o.places, places) {
				// Nothing of it changed, so neither did its state: the rules and
				// acknowledgements that decide it settle it when they change.
				continue
			}
			if _, err := tx.Exec(ctx, `
				UPDATE mutations SET digests = $2, places = $3, places_json = $5, body_version = $6, updated_at = $4 WHERE id = $1`,
				o.id, m.Digests, places, at, placesJSON, enc.version()); err != nil {
				return r, nil, fmt.Errorf("update mutation %d: %w", o.id, err)
			}
			changes = append(changes, mutationChange{id: o.id, kind: detect.Kind(o.kind), prev: o.state, prevDigests: o.digests})
			r.Updated++
			continue
		}
		// A cluster's own condition belongs to it, and to its group (a scan's pods do
		// not know their group). A tag-divergence belongs to the live cluster it names,
		// which need not be the one whose scan queued it; one spanning clusters names
		// none. It belongs to the group it was detected in.
		var owner *int64
		if m.Kind != detect.TagDivergence && sc.clusterID != 0 {
			owner = &sc.clusterID
		}
		var id int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO mutations (identity, kind, cluster_id, cluster, namespace, workload_kind, workload_name,
			                       container, ref, digests, places, places_json, body_version, detected_at, updated_at,
			                       cluster_group, group_id)
			VALUES ($1, $2, COALESCE($12, (SELECT id FROM clusters WHERE name = $3 AND $3 <> '' AND deleted_at IS NULL)),
			        $3, $4, $5, $6, $7, $8, $9, $10, $13, $14, $11, $11,
			        COALESCE((SELECT g.name FROM clusters c JOIN cluster_groups g ON g.id = c.group_id WHERE c.id = $12), $15),
			        COALESCE((SELECT c.group_id FROM clusters c WHERE c.id = $12), (SELECT g.id FROM cluster_groups g WHERE g.name = $15)))
			RETURNING id`,
			m.Identity, string(m.Kind), m.Cluster, m.Namespace, m.Workload.Kind, m.Workload.Name,
			m.Container, m.Ref, m.Digests, places, at, owner, placesJSON, enc.version(), inventory.GroupName(m.Group)).Scan(&id); err != nil {
			return r, nil, fmt.Errorf("open mutation %s: %w", m.Identity, err)
		}
		changes = append(changes, mutationChange{id: id, kind: m.Kind, prev: attention.StateAbsent})
		r.Opened++
	}
	for _, o := range current {
		if _, err := tx.Exec(ctx, `UPDATE mutations SET resolved_at = $2, updated_at = $2 WHERE id = $1`, o.id, at); err != nil {
			return r, nil, fmt.Errorf("resolve mutation %d: %w", o.id, err)
		}
		changes = append(changes, mutationChange{id: o.id, kind: detect.Kind(o.kind), prev: o.state, prevDigests: o.digests})
		r.Resolved++
	}
	if err := settleChanges(ctx, tx, changes); err != nil {
		return r, nil, err
	}
	return r, changes, nil
}

// ownConditions detects the conditions a cluster's listing settles alone: its
// workload-divergences and pin-mismatches.
func ownConditions(pods []inventory.Pod) []detect.Mutation {
	var own []detect.Mutation
	for _, m := range detect.Detect(pods) {
		if m.Kind == detect.WorkloadDivergence || m.Kind == detect.PinMismatch {
			own = append(own, m)
		}
	}
	return own
}

// jsonEqual compares a stored jsonb text with freshly encoded JSON by meaning.
func jsonEqual(stored string, fresh []byte) bool {
	var a, b any
	if json.Unmarshal([]byte(stored), &a) != nil || json.Unmarshal(fresh, &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// OpenMutationCount is how many conditions of one kind, not resolved, are in one
// state in one cluster ("" for those spanning clusters) of one cluster group.
type OpenMutationCount struct {
	Kind    string
	Cluster string
	Group   string
	// State is open, acknowledged or expected.
	State string
	Count int
}

// OpenMutationCounts counts the conditions not resolved by kind, cluster, group and
// state, of the clusters in scope sc.
func (s *Store) OpenMutationCounts(ctx context.Context, sc Scope) ([]OpenMutationCount, error) {
	var q query
	rows, err := s.pool.Query(ctx, `
		SELECT kind, cluster, cluster_group, state, count(*) FROM mutations m WHERE resolved_at IS NULL`+sc.mutationSQL(&q, "m")+`
		GROUP BY kind, cluster, cluster_group, state ORDER BY kind, cluster, cluster_group, state`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("count open mutations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenMutationCount, error) {
		var c OpenMutationCount
		return c, r.Scan(&c.Kind, &c.Cluster, &c.Group, &c.State, &c.Count)
	})
	if err != nil {
		return nil, fmt.Errorf("count open mutations: %w", err)
	}
	return out, nil
}

// MutationFilter selects mutations, newest first.
type MutationFilter struct {
	Cluster   string // the cluster, or a place in it (cross-cluster tag-divergences)
	Namespace string // likewise
	Kind      string
	State     string // open (default: needs attention), acknowledged, expected, unresolved, closed or all
	// Ref is a normalized reference; "" for all.
	Ref string
	// Group is the cluster group the mutations were detected in; "" for all.
	Group string
	// WorkloadKind and WorkloadName select the mutations of one workload (its own, or
	// with a place in it); "" for all.
	WorkloadKind, WorkloadName string
	// Since and Until bound when it was detected; zero for no bound.
	Since, Until time.Time
	BeforeID     int64
	Limit        int
	// RawPlaces leaves each mutation's Places nil and gives them in PlacesJSON
	// instead, as the store's BodyEncoder encodes them, for a caller that only encodes
	// them again: decoding them is most of the cost of a list. A store without an
	// encoder gives Places.
	RawPlaces bool
	// Scope keeps the mutations of the clusters the reader's role covers
	// (Scope.mutationSQL).
	Scope Scope
}

// Mutation states of MutationFilter, read from the state column (attention.Decide's):
// open is what needs attention, acknowledged and expected what does not (expected
// takes in the events a rule declares expected), unresolved all three of a condition
// not resolved. Events (tag-moved, pod-drift) are recorded resolved at the moment they
// happened, so they are never open: closed and all list them.
const (
	StateOpen         = "open"
	StateAcknowledged = "acknowledged"
	StateExpected     = "expected"
	StateUnresolved   = "unresolved"
	StateClosed       = "closed"
	StateAll          = "all"
)

// MutationStates are the states MutationFilter takes, in the order filters offer them.
var MutationStates = []string{StateOpen, StateAcknowledged, StateExpected, StateUnresolved, StateClosed, StateAll}

// mutationColumns are a mutation's columns but its places, which follow them: its own
// (ownPlaces) or its body (placesBody).
const mutationColumns = `m.id, m.identity, m.kind, m.cluster, m.namespace, m.workload_kind, m.workload_name, m.container,
	m.ref, m.digests, m.detected_at, m.resolved_at, m.cluster_group, m.state, COALESCE(m.state_rule_id, 0),
	COALESCE(m.state_ack_id, 0)`

// ownPlaces are a mutation's places, as the store keeps them for itself.
const ownPlaces = `, m.places`

// placesBody are a mutation's places body and its version, and its own places when the
// body is not of the version the hole names (a placeholder): what scanMutationPlaces
// reads with an encoder.
const placesBody = `, m.places_json, m.body_version, CASE WHEN m.body_version = {{version}} THEN NULL ELSE m.places END`

const mutationSQL = `SELECT ` + mutationColumns + ownPlaces + ` FROM mutations m`

// scanMutation reads a row of mutationSQL's columns, and then the extra ones.
func scanMutation(row pgx.Row, extra ...any) (Mutation, error) {
	return scanMutationPlaces(row, bodies{}, extra...)
}

// scanMutationPlaces is scanMutation; with an encoder, of a row with placesBody rather
// than ownPlaces, which leaves Places nil and gives them in PlacesJSON, encoded by enc
// when the body is not of its version.
func scanMutationPlaces(row pgx.Row, enc bodies, extra ...any) (Mutation, error) {
	var m Mutation
	var kind string
	var version *int
	var own []byte
	dest := []any{&m.ID, &m.Identity, &kind, &m.Cluster, &m.Namespace, &m.Workload.Kind, &m.Workload.Name,
		&m.Container, &m.Ref, &m.Digests, &m.DetectedAt, &m.ResolvedAt, &m.Group, &m.State, &m.Rule, &m.Ack}
	if enc.enc != nil {
		dest = append(dest, &m.PlacesJSON, &version, &own)
	} else {
		dest = append(dest, &m.Places)
	}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return m, err
	}
	m.Kind = detect.Kind(kind)
	if enc.enc == nil || enc.current(version) {
		return m, nil
	}
	var places []detect.Place
	if err := json.Unmarshal(own, &places); err != nil {
		return m, fmt.Errorf("places of mutation %d: %w", m.ID, err)
	}
	_, body, err := enc.places(detect.Mutation{Identity: m.Identity, Places: places})
	if err != nil {
		return m, err
	}
	m.PlacesJSON = []byte(body)
	return m, nil
}

// placeOrOwnSQL is the condition of a mutation that has a place (the hole place, a
// jsonb array of one place) or is its own (own, the conditions on its columns).
const placeOrOwnSQL = `(m.places @> {{place}}::jsonb OR ({{own}}))`

// ListMutations returns mutations matching f, newest first. A cluster or namespace
// matches the mutation's own, or any of its places (a tag-divergence across clusters
// has none of its own); given both, one place must be in both. Deleted clusters'
// mutations are listed under their name.
func (s *Store) ListMutations(ctx context.Context, f MutationFilter) ([]Mutation, error) {
	var q query
	switch f.State {
	case "", StateOpen:
		q.where("m.resolved_at IS NULL AND m.state = 'open'")
	case StateAcknowledged:
		q.where("m.resolved_at IS NULL AND m.state = 'acknowledged'")
	case StateExpected:
		q.where("m.state = 'expected'")
	case StateUnresolved:
		q.where("m.resolved_at IS NULL")
	case StateClosed:
		q.where("m.resolved_at IS NOT NULL")
	case StateAll:
	default:
		return nil, fmt.Errorf("list mutations: unknown state %q", f.State)
	}
	if f.Kind != "" {
		q.where("m.kind = " + q.arg(f.Kind))
	}
	if f.Ref != "" {
		q.where("m.ref = " + q.arg(f.Ref))
	}
	if f.Group != "" {
		q.where("m.cluster_group = " + q.arg(f.Group))
	}
	if !f.Since.IsZero() {
		q.where("m.detected_at >= " + q.arg(f.Since))
	}
	if !f.Until.IsZero() {
		q.where("m.detected_at < " + q.arg(f.Until))
	}
	if f.Cluster != "" || f.Namespace != "" || f.WorkloadName != "" {
		place := map[string]any{}
		var own []string
		if f.Cluster != "" {
			place["cluster"] = f.Cluster
			own = append(own, "m.cluster = "+q.arg(f.Cluster))
		}
		if f.Namespace != "" {
			place["namespace"] = f.Namespace
			own = append(own, "m.namespace = "+q.arg(f.Namespace))
		}
		if f.WorkloadName != "" {
			place["workload"] = map[string]string{"kind": f.WorkloadKind, "name": f.WorkloadName}
			own = append(own, "m.workload_kind = "+q.arg(f.WorkloadKind), "m.workload_name = "+q.arg(f.WorkloadName))
		}
		b, err := json.Marshal([]map[string]any{place})
		if err != nil {
			return nil, fmt.Errorf("list mutations: %w", err)
		}
		q.where(fill(placeOrOwnSQL, holes{"place": q.arg(string(b)), "own": strings.Join(own, " AND ")}))
	}
	if f.BeforeID > 0 {
		q.where("m.id < " + q.arg(f.BeforeID))
	}
	q.whereScope(f.Scope.mutationSQL(&q, "m"))
	sqlText, enc := mutationSQL, bodies{}
	if f.RawPlaces && s.bodies.enc != nil {
		enc = s.bodies
		sqlText = `SELECT ` + mutationColumns + fill(placesBody, holes{"version": q.arg(enc.enc.BodyVersion())}) + ` FROM mutations m`
	}
	rows, err := s.pool.Query(ctx, sqlText+q.clause()+" ORDER BY m.id DESC LIMIT "+q.arg(limitOf(f.Limit)), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list mutations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutationPlaces(r, enc) })
	if err != nil {
		return nil, fmt.Errorf("list mutations: %w", err)
	}
	return out, nil
}

// MutationEvent is something that happened to a mutation, at At: it was opened (or, for
// the events tag-moved and pod-drift, it happened), or, when Resolved, it was resolved.
type MutationEvent struct {
	Mutation
	At       time.Time
	Resolved bool
}

// recentEventsSQL lists the newest openings and resolutions by the time each happened,
// so that a condition open for weeks and resolved now comes before what opened an hour
// ago: each branch walks its index (mutations_detected_at, mutations_resolved_at) newest
// first, and a moment's resolutions come before its openings. An event (tag-moved,
// pod-drift) is resolved the moment it is recorded: it counts once, as it happened.
const recentEventsSQL = `
	SELECT * FROM (
		(SELECT ` + mutationColumns + ownPlaces + `, m.detected_at AS at, false AS resolved FROM mutations m
		 WHERE true {{scope}}
		 ORDER BY m.detected_at DESC, m.id DESC LIMIT $1)
		UNION ALL
		(SELECT ` + mutationColumns + ownPlaces + `, m.resolved_at, true FROM mutations m
		 WHERE m.resolved_at IS NOT NULL AND m.kind NOT IN ('tag-moved', 'pod-drift') {{scope}}
		 ORDER BY m.resolved_at DESC, m.id DESC LIMIT $1)
	) e
	ORDER BY e.at DESC, e.resolved DESC, e.id DESC
	LIMIT $1`

// RecentEvents returns the newest limit openings and resolutions of mutations, newest
// first by the time each happened, of the clusters in scope sc.
func (s *Store) RecentEvents(ctx context.Context, limit int, sc Scope) ([]MutationEvent, error) {
	q := query{args: []any{limitOf(limit)}}
	rows, err := s.pool.Query(ctx, fill(recentEventsSQL, holes{"scope": sc.mutationSQL(&q, "m")}), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list recent events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MutationEvent, error) {
		var e MutationEvent
		m, err := scanMutation(r, &e.At, &e.Resolved)
		e.Mutation = m
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list recent events: %w", err)
	}
	return out, nil
}

// MutationByID returns one mutation in scope sc; ErrNotFound when there is none, or
// it is outside sc.
func (s *Store) MutationByID(ctx context.Context, id int64, sc Scope) (Mutation, error) {
	q := query{args: []any{id}}
	m, err := scanMutation(s.pool.QueryRow(ctx, mutationSQL+" WHERE m.id = $1"+sc.mutationSQL(&q, "m"), q.args...))
	if err != nil {
		return Mutation{}, fmt.Errorf("mutation %d: %w", id, notFound(err))
	}
	return m, nil
}
