package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// WorkloadKey orders workloads for paging.
type WorkloadKey struct {
	Cluster, Namespace, Kind, Name string
}

// WorkloadFilter selects workloads that run now (have open observations).
type WorkloadFilter struct {
	Cluster, Namespace, Kind string // "" for all
	Name                     string // a workload's exact name; "" for all
	Ref                      string // only workloads running this normalized reference; "" for all
	MutantOnly               bool   // only places of open mutations
	After                    *WorkloadKey
	Limit                    int
}

// workloadPageSQL pages through the workloads running in live clusters: per cluster,
// in name order, the distinct workloads of its open observations through the
// observations_open_workload index, each cluster's scan stopping at the page size; then
// whether each of the page's workloads is a place of an open mutation of its cluster
// (through the mutations_places index). The %s are the extra conditions on
// observations o, the page size, and the extra conditions on clusters c.
const workloadPageSQL = `
	SELECT q.id, q.cluster, q.namespace, q.kind, q.name,
	       EXISTS (SELECT 1 FROM mutations m
	               WHERE m.resolved_at IS NULL AND (m.cluster_id IS NULL OR m.cluster_id = q.id)
	                 AND m.places @> jsonb_build_array(jsonb_build_object('cluster', q.cluster, 'namespace', q.namespace,
	                     'workload', jsonb_build_object('kind', q.kind, 'name', q.name))))
	FROM (
		SELECT c.id, c.name COLLATE "C" AS cluster, w.namespace, w.kind, w.name
		FROM clusters c
		CROSS JOIN LATERAL (
			SELECT DISTINCT o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
			       o.workload_name COLLATE "C" AS name
			FROM observations o
			WHERE o.cluster_id = c.id AND o.closed_at IS NULL %s
			ORDER BY 1, 2, 3
			LIMIT %s
		) w
		WHERE c.deleted_at IS NULL %s
		ORDER BY c.name COLLATE "C", w.namespace, w.kind, w.name
		LIMIT %[2]s
	) q
	ORDER BY q.cluster, q.namespace, q.kind, q.name`

// mutantPageSQL pages through the workloads that are places of open mutations in live
// clusters and still run there: driven from the open mutations, which are few. The %s
// are the extra conditions on the places k, and the page size.
const mutantPageSQL = `
	WITH marks AS (
		SELECT DISTINCT c.id, c.name COLLATE "C" AS cluster, (p->>'namespace') COLLATE "C" AS namespace,
		       (p->'workload'->>'kind') COLLATE "C" AS kind, (p->'workload'->>'name') COLLATE "C" AS name
		FROM mutations m
		CROSS JOIN LATERAL jsonb_array_elements(m.places) p
		JOIN clusters c ON c.name = p->>'cluster' AND c.deleted_at IS NULL
		WHERE m.resolved_at IS NULL AND (m.cluster_id IS NULL OR m.cluster_id = c.id)
	)
	SELECT k.id, k.cluster, k.namespace, k.kind, k.name, true
	FROM marks k
	WHERE EXISTS (SELECT 1 FROM observations o
	              WHERE o.cluster_id = k.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = k.namespace
	                AND o.workload_kind COLLATE "C" = k.kind AND o.workload_name COLLATE "C" = k.name) %s
	ORDER BY k.cluster, k.namespace, k.kind, k.name
	LIMIT %s`

// workloadRowsSQL reads the open observations of a page of workloads: $1 to $4 are
// their cluster ids, namespaces, kinds and names.
const workloadRowsSQL = `
	SELECT o.cluster_id, o.namespace, o.workload_kind, o.workload_name, o.pod, o.pod_uid, o.container,
	       o.container_type, o.image, o.ref, o.pinned, o.digest, o.digest_kind, o.image_id, o.node, o.runtime,
	       o.first_seen
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS p (id, namespace, kind, name)
	JOIN observations o ON o.cluster_id = p.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = p.namespace
	                   AND o.workload_kind COLLATE "C" = p.kind AND o.workload_name COLLATE "C" = p.name`

// Workload is a workload that runs now, and what its containers run: the data the API
// and the UI shape into their answers.
type Workload struct {
	WorkloadKey
	// Mutant is true for a place of an open mutation.
	Mutant bool
	// Running holds one entry per open observation, by pod name, pod UID and container.
	Running []RunningContainer
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
}

// ListWorkloads returns running workloads ordered by cluster, namespace, kind and name,
// after f.After. Mutant is true for a place of an open mutation.
//
// Only live clusters' open observations count, and only containers that run a digest
// are stored, so a container still waiting for its image is not listed.
func (s *Store) ListWorkloads(ctx context.Context, f WorkloadFilter) ([]Workload, error) {
	limit := limitOf(f.Limit)
	var q query
	var sqlText string
	if f.MutantOnly {
		var cond strings.Builder
		if f.Cluster != "" {
			cond.WriteString(" AND k.cluster = " + q.arg(f.Cluster))
		}
		if f.Namespace != "" {
			cond.WriteString(" AND k.namespace = " + q.arg(f.Namespace))
		}
		if f.Kind != "" {
			cond.WriteString(" AND k.kind = " + q.arg(f.Kind))
		}
		if f.Name != "" {
			cond.WriteString(" AND k.name = " + q.arg(f.Name))
		}
		if f.Ref != "" {
			cond.WriteString(` AND EXISTS (SELECT 1 FROM observations r
				WHERE r.cluster_id = k.id AND r.closed_at IS NULL AND r.namespace COLLATE "C" = k.namespace
				  AND r.workload_kind COLLATE "C" = k.kind AND r.workload_name COLLATE "C" = k.name AND r.ref = ` + q.arg(f.Ref) + `)`)
		}
		if a := f.After; a != nil {
			cond.WriteString(fmt.Sprintf(" AND (k.cluster, k.namespace, k.kind, k.name) > (%s, %s, %s, %s)",
				q.arg(a.Cluster), q.arg(a.Namespace), q.arg(a.Kind), q.arg(a.Name)))
		}
		sqlText = fmt.Sprintf(mutantPageSQL, cond.String(), q.arg(limit))
	} else {
		var clusterCond, obsCond strings.Builder
		if f.Cluster != "" {
			clusterCond.WriteString(" AND c.name = " + q.arg(f.Cluster))
		}
		if f.Namespace != "" {
			obsCond.WriteString(` AND o.namespace COLLATE "C" = ` + q.arg(f.Namespace))
		}
		if f.Kind != "" {
			obsCond.WriteString(` AND o.workload_kind COLLATE "C" = ` + q.arg(f.Kind))
		}
		if f.Name != "" {
			obsCond.WriteString(` AND o.workload_name COLLATE "C" = ` + q.arg(f.Name))
		}
		if f.Ref != "" {
			obsCond.WriteString(` AND o.ref = ` + q.arg(f.Ref))
		}
		if a := f.After; a != nil {
			cl := q.arg(a.Cluster)
			clusterCond.WriteString(` AND c.name COLLATE "C" >= ` + cl)
			// Past the cursor's cluster every workload follows it; a workload kind is
			// never empty, so ('', '', '') precedes them all and keeps the row
			// comparison an index condition.
			obsCond.WriteString(fmt.Sprintf(` AND (o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C") >
				(CASE WHEN c.name = %[1]s THEN %[2]s ELSE '' END, CASE WHEN c.name = %[1]s THEN %[3]s ELSE '' END,
				 CASE WHEN c.name = %[1]s THEN %[4]s ELSE '' END)`, cl, q.arg(a.Namespace), q.arg(a.Kind), q.arg(a.Name)))
		}
		sqlText = fmt.Sprintf(workloadPageSQL, obsCond.String(), q.arg(limit), clusterCond.String())
	}
	rows, err := s.pool.Query(ctx, sqlText, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	var page workloadPage
	for rows.Next() {
		var id int64
		var k WorkloadKey
		var mutant bool
		if err := rows.Scan(&id, &k.Cluster, &k.Namespace, &k.Kind, &k.Name, &mutant); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list workloads: %w", err)
		}
		page.add(id, k, mutant)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	if len(page.ids) == 0 {
		return []Workload{}, nil
	}
	return s.workloads(ctx, &page)
}

// workloadPage is a page of workloads, as the arrays workloadRowsSQL takes.
type workloadPage struct {
	ids                      []int64
	namespaces, kinds, names []string
	cluster                  map[int64]string
	out                      []Workload
	at                       map[WorkloadKey]int // index in out
}

func (p *workloadPage) add(id int64, k WorkloadKey, mutant bool) {
	if p.cluster == nil {
		p.cluster, p.at = map[int64]string{}, map[WorkloadKey]int{}
	}
	p.ids, p.namespaces, p.kinds, p.names = append(p.ids, id), append(p.namespaces, k.Namespace), append(p.kinds, k.Kind), append(p.names, k.Name)
	p.cluster[id] = k.Cluster
	p.at[k] = len(p.out)
	p.out = append(p.out, Workload{WorkloadKey: k, Mutant: mutant, Running: []RunningContainer{}})
}

// workloads reads the open observations of a page of workloads.
func (s *Store) workloads(ctx context.Context, page *workloadPage) ([]Workload, error) {
	rows, err := s.pool.Query(ctx, workloadRowsSQL, page.ids, page.namespaces, page.kinds, page.names)
	if err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid int64
		var k WorkloadKey
		var c RunningContainer
		if err := rows.Scan(&cid, &k.Namespace, &k.Kind, &k.Name, &c.Pod, &c.PodUID, &c.Container, &c.Type, &c.Image,
			&c.Ref, &c.Pinned, &c.Digest, &c.Kind, &c.ImageID, &c.Node, &c.Runtime, &c.FirstSeen); err != nil {
			return nil, fmt.Errorf("read workloads: %w", err)
		}
		k.Cluster = page.cluster[cid]
		c.FirstSeen = c.FirstSeen.UTC()
		if i, ok := page.at[k]; ok {
			page.out[i].Running = append(page.out[i].Running, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	for i := range page.out {
		slices.SortFunc(page.out[i].Running, func(a, b RunningContainer) int {
			return cmp.Or(strings.Compare(a.Pod, b.Pod), strings.Compare(a.PodUID, b.PodUID),
				strings.Compare(a.Container, b.Container), strings.Compare(a.ImageID, b.ImageID))
		})
	}
	return page.out, nil
}
