package store

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
)

// WorkloadKey orders workloads for paging.
type WorkloadKey struct {
	Cluster, Namespace, Kind, Name string
}

// WorkloadFilter selects workloads that run now (have open observations).
type WorkloadFilter struct {
	Cluster, Namespace, Kind string // "" for all
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
	       o.container_type, o.image, o.digest, o.digest_kind, o.image_id
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS p (id, namespace, kind, name)
	JOIN observations o ON o.cluster_id = p.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = p.namespace
	                   AND o.workload_kind COLLATE "C" = p.kind AND o.workload_name COLLATE "C" = p.name`

// ListWorkloads returns running workloads in the shape of `tagdrift scan -o json`,
// ordered by cluster, namespace, kind and name, after f.After. Mutant is true for a
// place of an open mutation.
//
// Only live clusters' open observations count, and only containers that run a digest
// are stored, so a container still waiting for its image is not listed.
func (s *Store) ListWorkloads(ctx context.Context, f WorkloadFilter) ([]report.Workload, error) {
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
		return []report.Workload{}, nil
	}
	return s.workloads(ctx, &page)
}

// workloadPage is a page of workloads, as the arrays workloadRowsSQL takes.
type workloadPage struct {
	ids                      []int64
	namespaces, kinds, names []string
	cluster                  map[int64]string
	mutant                   map[WorkloadKey]bool
}

func (p *workloadPage) add(id int64, k WorkloadKey, mutant bool) {
	if p.cluster == nil {
		p.cluster, p.mutant = map[int64]string{}, map[WorkloadKey]bool{}
	}
	p.ids, p.namespaces, p.kinds, p.names = append(p.ids, id), append(p.namespaces, k.Namespace), append(p.kinds, k.Kind), append(p.names, k.Name)
	p.cluster[id] = k.Cluster
	p.mutant[k] = mutant
}

// workloads reads a page of workloads and groups their open observations as
// report.Build groups a scan's pods.
func (s *Store) workloads(ctx context.Context, page *workloadPage) ([]report.Workload, error) {
	rows, err := s.pool.Query(ctx, workloadRowsSQL, page.ids, page.namespaces, page.kinds, page.names)
	if err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	defer rows.Close()
	parser := imageref.NewParser()
	parsed := map[[3]string]*imageref.ID{}
	var pods []inventory.Pod
	for rows.Next() {
		var p inventory.Pod
		var cid int64
		var uid, container, typ, image, dgst, kind, raw string
		if err := rows.Scan(&cid, &p.Namespace, &p.Workload.Kind, &p.Workload.Name, &p.Name, &uid, &container, &typ, &image,
			&dgst, &kind, &raw); err != nil {
			return nil, fmt.Errorf("read workloads: %w", err)
		}
		p.Cluster, p.UID = page.cluster[cid], types.UID(uid)
		// The digest as stored when the scan parsed it; the reference parsed again
		// (remembered), as OpenPods does, for its normalized form and pin.
		idKey := [3]string{raw, kind, dgst}
		id, ok := parsed[idKey]
		if !ok {
			id = &imageref.ID{Raw: raw, Kind: imageref.Kind(kind), Digest: dgst}
			parsed[idKey] = id
		}
		// One pod per row: Build merges a workload's pods and removes repeated names.
		p.Containers = []inventory.Container{{Name: container, Type: inventory.ContainerType(typ), Ref: parser.Ref(image), ID: id}}
		pods = append(pods, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	out := report.Build([]report.ClusterScan{{Pods: pods}}, nil).Workloads
	for i := range out {
		w := &out[i]
		w.Mutant = page.mutant[WorkloadKey{w.Cluster, w.Namespace, w.Kind, w.Name}]
	}
	return out, nil
}
