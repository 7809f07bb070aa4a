package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// WorkloadKey names a workload.
type WorkloadKey struct {
	Cluster, Namespace, Kind, Name string
}

// WorkloadSort orders the workloads list. Each order ends in a tie-breaker that makes
// it total (a live cluster's workloads are unique by namespace, kind and name), so that
// a cursor pages through every workload exactly once.
type WorkloadSort string

// The orders of the workloads list, as their columns compare (names by bytes).
const (
	SortCluster   WorkloadSort = "cluster"   // cluster, namespace, kind, name: the default
	SortNamespace WorkloadSort = "namespace" // namespace, name, kind, the cluster's id
	SortName      WorkloadSort = "name"      // name, namespace, kind, the cluster's id
	SortKind      WorkloadSort = "kind"      // kind, namespace, name, the cluster's id
	SortRef       WorkloadSort = "ref"       // the least reference it runs, then namespace, name, kind, the cluster's id
	SortChanged   WorkloadSort = "changed"   // when what it runs last changed, then namespace, name, kind, the cluster's id
	SortMutant    WorkloadSort = "mutant"    // places of open mutations first, then workloads behind a tag, then the rest, each part by cluster, namespace, kind, name
)

// WorkloadSorts are the orders ListWorkloads takes, the default first.
var WorkloadSorts = []WorkloadSort{SortCluster, SortNamespace, SortName, SortKind, SortRef, SortChanged, SortMutant}

// workloadOrder is each sort's columns, as the queries name them: the one rule of each
// order, which every query (and WorkloadCursor) follows. SortMutant's parts follow
// SortCluster's. The orders led by a column of observations end in the cluster's id,
// not its name, so that their index gives the whole order and a page reads only the
// rows it shows.
var workloadOrder = map[WorkloadSort][]string{
	SortCluster:   {"cluster", "namespace", "kind", "name"},
	SortNamespace: {"namespace", "name", "kind", "cluster_id"},
	SortName:      {"name", "namespace", "kind", "cluster_id"},
	SortKind:      {"kind", "namespace", "name", "cluster_id"},
	SortRef:       {"ref", "namespace", "name", "kind", "cluster_id"},
	SortChanged:   {"changed", "namespace", "name", "kind", "cluster_id"},
	SortMutant:    {"cluster", "namespace", "kind", "name"},
}

// WorkloadCursor is where a page of the list starts: the sort key of the last workload
// of the page before it (Workload.Cursor).
type WorkloadCursor struct {
	WorkloadKey
	ClusterID int64
	Mutant    bool      // SortMutant: which part it is in: places of open mutations,
	Behind    bool      // other workloads behind a tag, or the rest
	Ref       string    // SortRef: the least reference the workload ran
	Changed   time.Time // SortChanged: when what it ran last changed
}

// workloadPart is a part of the SortMutant order.
type workloadPart int

const (
	partMutant workloadPart = iota
	partBehind
	partOther
)

// part is the part of the SortMutant order the cursor is in.
func (c WorkloadCursor) part() workloadPart {
	switch {
	case c.Mutant:
		return partMutant
	case c.Behind:
		return partBehind
	}
	return partOther
}

// value is the cursor's value of an order's column, as workloadOrder names them.
func (c WorkloadCursor) value(col string) any {
	switch col {
	case "cluster":
		return c.Cluster
	case "namespace":
		return c.Namespace
	case "kind":
		return c.Kind
	case "name":
		return c.Name
	case "cluster_id":
		return c.ClusterID
	case "ref":
		return c.Ref
	default: // changed
		return c.Changed
	}
}

// WorkloadFilter selects workloads that run now (have open observations).
type WorkloadFilter struct {
	Cluster, Namespace, Kind string // "" for all
	Name                     string // a workload's exact name; "" for all
	Ref                      string // only workloads running this normalized reference; "" for all
	MutantOnly               bool   // only places of open mutations
	BehindOnly               bool   // only workloads behind a tag (not with MutantOnly)
	Sort                     WorkloadSort
	Desc                     bool // the sort's order reversed
	After                    *WorkloadCursor
	Limit                    int
	// Scope keeps the workloads of the clusters the reader's role covers; the zero
	// value covers every cluster.
	Scope Scope
}

// workloadRowsSQL reads the open observations of a page of workloads: $1 to $4 are
// their cluster ids, namespaces, kinds and names.
const workloadRowsSQL = `
	SELECT o.cluster_id, o.namespace, o.workload_kind, o.workload_name, o.pod, o.pod_uid, o.container,
	       o.container_type, o.image, o.ref, o.pinned, o.digest, o.digest_kind, o.image_id, o.node, o.runtime,
	       o.first_seen, l.seq
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS p (id, namespace, kind, name)
	JOIN observations o ON o.cluster_id = p.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = p.namespace
	                   AND o.workload_kind COLLATE "C" = p.kind AND o.workload_name COLLATE "C" = p.name
	LEFT JOIN digest_letters l ON l.ref = o.ref AND l.digest = o.digest`

// Workload is a workload that runs now, and what its containers run: the data the API
// and the UI shape into their answers.
type Workload struct {
	WorkloadKey
	// ClusterID is its cluster's registration.
	ClusterID int64
	// Mutant is true for a place of an open mutation.
	Mutant bool
	// Running holds one entry per open observation, by pod name, pod UID and container.
	Running []RunningContainer
	// Behind are the references it runs behind their tags (behind.go), by reference.
	Behind []BehindRef
}

// Cursor is where the page after w starts, in any order.
func (w Workload) Cursor() WorkloadCursor {
	c := WorkloadCursor{WorkloadKey: w.WorkloadKey, ClusterID: w.ClusterID, Mutant: w.Mutant, Behind: !w.Mutant && len(w.Behind) > 0}
	for i, r := range w.Running {
		if i == 0 || strings.Compare(r.Ref, c.Ref) < 0 {
			c.Ref = r.Ref
		}
		if r.FirstSeen.After(c.Changed) {
			c.Changed = r.FirstSeen
		}
	}
	return c
}

// RunningContainer is one open observation of a workload: one container of one pod
// running one digest.
type RunningContainer struct {
	Pod       string
	PodUID    string
	Container string
	Type      inventory.ContainerType
	Image     string // the reference as written in the pod spec
	Ref       string // normalized
	Pinned    bool
	Digest    string
	Kind      imageref.Kind
	ImageID   string // as the runtime reported it
	Node      string // the pod's node; "" when unknown
	Runtime   string // the node's container runtime and version; "" when unknown
	FirstSeen time.Time
	// Letter is the digest's letter under Ref ("" when it has none yet).
	Letter string
}

// ListWorkloads returns running workloads in f.Sort's order (SortCluster when none),
// after f.After. Mutant is true for a place of an open mutation.
//
// Only live clusters' open observations count, and only containers that run a digest
// are stored, so a container still waiting for its image is not listed.
func (s *Store) ListWorkloads(ctx context.Context, f WorkloadFilter) ([]Workload, error) {
	page, err := s.workloadPage(ctx, f, false)
	if err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	if len(page.ids) == 0 {
		return []Workload{}, nil
	}
	if err := s.fillBehind(ctx, page); err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	ws, err := s.workloads(ctx, page)
	if err != nil {
		return nil, err
	}
	if err := scopeRunningLetters(ctx, s.pool, ws, f.Scope); err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	return ws, nil
}

// scopeRunningLetters sets the letters of what ws run, read in the limited scope sc,
// to those of the scope (scopeLetters); nothing for every cluster's reader.
func scopeRunningLetters(ctx context.Context, q querier, ws []Workload, sc Scope) error {
	if !sc.Limited {
		return nil
	}
	var refs []string
	for _, w := range ws {
		for _, c := range w.Running {
			refs = append(refs, c.Ref)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	seqs, err := scopeLetters(ctx, q, refs, sc)
	if err != nil {
		return err
	}
	for _, w := range ws {
		for j := range w.Running {
			c := &w.Running[j]
			c.Letter = ""
			if seq, ok := seqs[RefDigest{c.Ref, c.Digest}]; ok {
				c.Letter = LetterName(seq)
			}
		}
	}
	return nil
}

// WorkloadBody is a running workload as the API lists it: which it is, whether it is a
// place of an open mutation, its sort keys, and its containers as the store's
// BodyEncoder encodes them.
type WorkloadBody struct {
	WorkloadKey
	ClusterID  int64
	Mutant     bool
	Ref        string    // the least reference it runs
	Changed    time.Time // when what it runs last changed
	Containers []byte
	// Behind are the references it runs behind their tags (behind.go), by reference.
	Behind []BehindRef
}

// Cursor is where the page after b starts, in any order.
func (b WorkloadBody) Cursor() WorkloadCursor {
	return WorkloadCursor{WorkloadKey: b.WorkloadKey, ClusterID: b.ClusterID, Mutant: b.Mutant, Behind: !b.Mutant && len(b.Behind) > 0,
		Ref: b.Ref, Changed: b.Changed}
}

// ListWorkloadBodies is ListWorkloads, with each workload's containers as kept
// encoded in running_workloads (a row without them, or with them in another version's
// shape, is rendered from its intervals), so that a list costs one row a workload, not
// one a container. It needs a store opened with a BodyEncoder.
func (s *Store) ListWorkloadBodies(ctx context.Context, f WorkloadFilter) ([]WorkloadBody, error) {
	if s.bodies.enc == nil {
		return nil, errors.New("list workloads: the store was opened without a body encoder")
	}
	// The kept bodies hold the letters given across all clusters: a limited scope's
	// reader gets its workloads rendered from their intervals, with its scope's letters.
	page, err := s.workloadPage(ctx, f, !f.Scope.Limited)
	if err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	if err := s.fillBehind(ctx, page); err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	out := make([]WorkloadBody, len(page.out))
	// The page's own query read the bodies when it read running_workloads (the places of
	// open mutations, the orders that walk it); the rest are read by key.
	unread, unreadAt := &workloadPage{}, []int{}
	for i, w := range page.out {
		out[i] = WorkloadBody{WorkloadKey: w.WorkloadKey, ClusterID: w.ClusterID, Mutant: w.Mutant, Behind: w.Behind}
		if f.Scope.Limited {
			continue
		}
		if b := page.bodies[i]; b.read {
			out[i].Ref, out[i].Changed, out[i].Containers = b.Ref, b.Changed.UTC(), s.bodies.ofVersion(b.Containers, b.Version)
		} else {
			unread.add(w.ClusterID, w.WorkloadKey, w.Mutant)
			unreadAt = append(unreadAt, i)
		}
	}
	if len(unread.out) > 0 {
		if err := s.readBodies(ctx, unread, unreadAt, out); err != nil {
			return nil, fmt.Errorf("list workloads: %w", err)
		}
	}
	// Rows not rendered yet, or in another version's shape: from their intervals.
	missing := &workloadPage{}
	for _, b := range out {
		if b.Containers == nil {
			missing.add(b.ClusterID, b.WorkloadKey, b.Mutant)
		}
	}
	if len(missing.out) == 0 {
		return out, nil
	}
	ws, err := readRunning(ctx, s.pool, missing)
	if err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	if err := scopeRunningLetters(ctx, s.pool, ws, f.Scope); err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	rendered := map[WorkloadKey]Workload{}
	for _, w := range ws {
		rendered[w.WorkloadKey] = w
	}
	var render []Workload
	var at []int
	for i, b := range out {
		if b.Containers == nil {
			render, at = append(render, rendered[b.WorkloadKey]), append(at, i)
		}
	}
	encoded, err := s.bodies.containers(render)
	if err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	for j, w := range render {
		c := w.Cursor()
		out[at[j]].Containers, out[at[j]].Ref, out[at[j]].Changed = encoded[j], c.Ref, c.Changed
	}
	return out, nil
}

// readBodies reads the bodies of page's workloads from running_workloads into out:
// page's workload i is out[at[i]].
func (s *Store) readBodies(ctx context.Context, page *workloadPage, at []int, out []WorkloadBody) error {
	rows, err := s.pool.Query(ctx, `
		SELECT p.n, w.ref, w.changed, w.containers, w.body_version
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS p (id, namespace, kind, name, n)
		JOIN running_workloads w ON w.cluster_id = p.id AND w.namespace = p.namespace AND w.kind = p.kind AND w.name = p.name`,
		page.ids, page.namespaces, page.kinds, page.names)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		var b WorkloadBody
		var version *int
		if err := rows.Scan(&n, &b.Ref, &b.Changed, &b.Containers, &version); err != nil {
			return err
		}
		i := at[n-1]
		out[i].Ref, out[i].Changed, out[i].Containers = b.Ref, b.Changed.UTC(), s.bodies.ofVersion(b.Containers, version)
	}
	return rows.Err()
}

// querier is what reads need of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// workloads reads the open observations of a page of workloads.
func (s *Store) workloads(ctx context.Context, page *workloadPage) ([]Workload, error) {
	return readRunning(ctx, s.pool, page)
}

// readRunning reads the open observations of a page of workloads through q.
func readRunning(ctx context.Context, q querier, page *workloadPage) ([]Workload, error) {
	rows, err := q.Query(ctx, workloadRowsSQL, page.ids, page.namespaces, page.kinds, page.names)
	if err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	defer rows.Close()
	at := page.index()
	for rows.Next() {
		var k runningKey
		var c RunningContainer
		var seq *int
		if err := rows.Scan(&k.clusterID, &k.namespace, &k.kind, &k.name, &c.Pod, &c.PodUID, &c.Container, &c.Type, &c.Image,
			&c.Ref, &c.Pinned, &c.Digest, &c.Kind, &c.ImageID, &c.Node, &c.Runtime, &c.FirstSeen, &seq); err != nil {
			return nil, fmt.Errorf("read workloads: %w", err)
		}
		if seq != nil {
			c.Letter = LetterName(*seq)
		}
		c.FirstSeen = c.FirstSeen.UTC()
		if i, ok := at[k]; ok {
			page.out[i].Running = append(page.out[i].Running, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	sortRunning(page.out)
	return page.out, nil
}

// sortRunning puts each workload's containers in the order readRunning gives them: by
// pod name, pod UID, container and imageID.
func sortRunning(ws []Workload) {
	for i := range ws {
		slices.SortFunc(ws[i].Running, func(a, b RunningContainer) int {
			return cmp.Or(strings.Compare(a.Pod, b.Pod), strings.Compare(a.PodUID, b.PodUID),
				strings.Compare(a.Container, b.Container), strings.Compare(a.ImageID, b.ImageID))
		})
	}
}
