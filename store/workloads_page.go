package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// How a page of the workloads list is read: which workloads it holds, in each order,
// by the queries below (the containers come after, from workloadRowsSQL).

// workloadPageSQL pages through the workloads running in live clusters in cluster
// order: per cluster, in name order, the distinct workloads of its open observations
// through the observations_open_workload index, each cluster's scan stopping at the
// page size; then whether each of the page's workloads is a place of an open mutation
// (place_of_open_mutation, migration 000030). The holes are a WITH clause (with), the
// extra conditions on observations o (observations) and on clusters c (clusters), the
// page size (limit) and the direction (dir: ASC or DESC).
const workloadPageSQL = `{{with}}
	SELECT q.id, q.cluster, q.namespace, q.kind, q.name,
	       place_of_open_mutation(q.id, q.cluster, q.namespace, q.kind, q.name)
	FROM (
		SELECT c.id, c.name COLLATE "C" AS cluster, w.namespace, w.kind, w.name
		FROM clusters c
		CROSS JOIN LATERAL (
			SELECT DISTINCT o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
			       o.workload_name COLLATE "C" AS name
			FROM observations o
			WHERE o.cluster_id = c.id AND o.closed_at IS NULL {{observations}}
			ORDER BY 1 {{dir}}, 2 {{dir}}, 3 {{dir}}
			LIMIT {{limit}}
		) w
		WHERE c.deleted_at IS NULL {{clusters}}
		ORDER BY c.name COLLATE "C" {{dir}}, w.namespace {{dir}}, w.kind {{dir}}, w.name {{dir}}
		LIMIT {{limit}}
	) q
	ORDER BY q.cluster {{dir}}, q.namespace {{dir}}, q.kind {{dir}}, q.name {{dir}}`

// marksSQL is the places of the open mutations in live clusters, as workloads: few,
// from mutation_marks (kept from each mutation's places by migration 000027's trigger,
// through open_mutation_places of migration 000030).
const marksSQL = `
	WITH marks AS MATERIALIZED (
		SELECT DISTINCT c.id, c.name COLLATE "C" AS cluster, k.namespace, k.kind, k.name
		FROM mutation_marks k
		JOIN clusters c ON c.name = k.cluster AND c.deleted_at IS NULL
		WHERE k.owner_id IS NULL OR k.owner_id = c.id
	)`

// mutantPageSQL pages through the workloads that are places of open mutations in live
// clusters and still run there: driven from the open mutations, which are few, each
// with its sort keys from running_workloads a. The holes are the body columns (bodies:
// bodyColumns or none), the extra conditions on the places k and their keys a (where),
// the order (order) and the page size (limit).
const mutantPageSQL = marksSQL + `
	SELECT k.id, k.cluster, k.namespace, k.kind, k.name, true {{bodies}}
	FROM marks k
	JOIN running_workloads a ON a.cluster_id = k.id AND a.namespace = k.namespace AND a.kind = k.kind AND a.name = k.name
	WHERE true {{where}}
	ORDER BY {{order}}
	LIMIT {{limit}}`

// walkPageSQL pages through the workloads running in live clusters in an order that
// starts with a column of running_workloads: it walks them through the index of that
// order (migration 000021) and stops at the page size. The holes are the conditions
// (where), the order (order), the page size (limit), the outer order (outer) and the
// body columns (bodies: bodyColumns of q, or none).
const walkPageSQL = `
	SELECT q.cluster_id, c.name, q.namespace, q.kind, q.name,
	       place_of_open_mutation(q.cluster_id, c.name, q.namespace, q.kind, q.name) {{bodies}}
	FROM (
		SELECT w.cluster_id, w.namespace, w.kind, w.name, w.ref, w.changed, w.containers, w.body_version
		FROM running_workloads w
		JOIN clusters c ON c.id = w.cluster_id
		WHERE c.deleted_at IS NULL {{where}}
		ORDER BY {{order}}
		LIMIT {{limit}}
	) q
	JOIN clusters c ON c.id = q.cluster_id
	ORDER BY {{outer}}`

// walkColumns are the expressions of the order columns on running_workloads w.
var walkColumns = map[string]string{
	"cluster_id": "w.cluster_id",
	"namespace":  "w.namespace",
	"kind":       "w.kind",
	"name":       "w.name",
	"ref":        "w.ref",
	"changed":    "w.changed",
}

// bodyColumns are the columns of a WorkloadBody that running_workloads holds, and its
// body's version, as a page's query reads them after its six (readPage), of
// running_workloads or a query of it named by the hole from.
const bodyColumns = ", {{from}}.ref, {{from}}.changed, {{from}}.containers, {{from}}.body_version"

// markColumns are the expressions of the order columns in mutantPageSQL.
var markColumns = map[string]string{
	"cluster": "k.cluster", "cluster_id": "k.id", "namespace": "k.namespace", "kind": "k.kind", "name": "k.name",
	"ref": "a.ref", "changed": "a.changed",
}

// workloadPage reads which workloads f's page holds, in f.Sort's order (SortCluster
// when none); with bodies, also the bodies of those it reads from running_workloads.
func (s *Store) workloadPage(ctx context.Context, f WorkloadFilter, bodies bool) (*workloadPage, error) {
	if f.Sort == "" {
		f.Sort = SortCluster
	}
	order, ok := workloadOrder[f.Sort]
	if !ok {
		return nil, fmt.Errorf("unknown sort %q", f.Sort)
	}
	limit := limitOf(f.Limit)
	page := &workloadPage{withBodies: bodies}
	page.grow(limit)
	var err error
	switch {
	case f.MutantOnly && f.BehindOnly:
		return nil, errors.New("the mutant workloads or those behind their tags, not both at once")
	case f.BehindOnly:
		err = s.behindPage(ctx, page, f, order, limit)
	case f.MutantOnly:
		err = s.mutantPage(ctx, page, f, order, f.After, limit)
	case f.Sort == SortCluster:
		err = s.clusterPage(ctx, page, f, f.After, limit, false)
	case f.Sort == SortMutant:
		// Three parts: the places of open mutations (few, read from the mutations), the
		// other workloads behind a tag (behind.go), and the rest; reversed, the rest
		// come first. A cursor says which part it is in.
		parts := []workloadPart{partMutant, partBehind, partOther}
		if f.Desc {
			slices.Reverse(parts)
		}
		after := f.After
		if after != nil {
			parts = parts[slices.Index(parts, after.part()):]
		}
		for i, part := range parts {
			if i > 0 {
				after = nil
			}
			if n := limit - len(page.out); n > 0 && err == nil {
				switch part {
				case partMutant:
					err = s.mutantPage(ctx, page, f, order, after, n)
				case partBehind:
					err = s.behindPart(ctx, page, f, order, after, n, true)
				default:
					err = s.clusterPage(ctx, page, f, after, n, true)
				}
			}
		}
	default:
		err = s.walkPage(ctx, page, f, order, limit)
	}
	return page, err
}

// direction is the SQL of f's direction.
func direction(desc bool) string {
	if desc {
		return "DESC"
	}
	return "ASC"
}

// orderSQL renders an order's columns, as cols names them (by their own names when
// nil), in a direction.
func orderSQL(order []string, cols map[string]string, desc bool) string {
	parts := make([]string, len(order))
	for i, c := range order {
		if cols != nil {
			c = cols[c]
		}
		parts[i] = c + " " + direction(desc)
	}
	return strings.Join(parts, ", ")
}

// afterSQL is the condition of the rows after the cursor in an order (before it, when
// reversed), or, inclusive, also at it: a row comparison.
func afterSQL(q *query, order []string, cols map[string]string, after WorkloadCursor, desc, inclusive bool) string {
	exprs, vals := make([]string, len(order)), make([]string, len(order))
	for i, c := range order {
		exprs[i], vals[i] = cols[c], q.arg(after.value(c))
	}
	op := ">"
	if desc {
		op = "<"
	}
	if inclusive {
		op += "="
	}
	return "(" + strings.Join(exprs, ", ") + ") " + op + " (" + strings.Join(vals, ", ") + ")"
}

// mutantPage reads the places of open mutations in an order.
func (s *Store) mutantPage(ctx context.Context, page *workloadPage, f WorkloadFilter, order []string, after *WorkloadCursor, limit int) error {
	var q query
	var cond strings.Builder
	cond.WriteString(pageFilterSQL(&q, f, "k.cluster", "k.id", "k.namespace", "k.kind", "k.name"))
	if after != nil {
		cond.WriteString(" AND " + afterSQL(&q, order, markColumns, *after, f.Desc, false))
	}
	sqlText := fill(mutantPageSQL, holes{"bodies": page.bodyColumns("a"), "where": cond.String(),
		"order": orderSQL(order, markColumns, f.Desc), "limit": q.arg(limit)})
	return s.readPage(ctx, page, sqlText, q.args, page.withBodies)
}

// clusterPage reads workloads in cluster order; with others, only those that are no
// place of an open mutation.
func (s *Store) clusterPage(ctx context.Context, page *workloadPage, f WorkloadFilter, after *WorkloadCursor, limit int, others bool) error {
	var q query
	var clusterCond, obsCond strings.Builder
	clusterCond.WriteString(f.Scope.clusterSQL(&q, "c.id"))
	if f.Cluster != "" {
		clusterCond.WriteString(" AND c.name = " + q.arg(f.Cluster))
	}
	obsCond.WriteString(workloadKeySQL(&q, f))
	if f.Ref != "" {
		obsCond.WriteString(` AND o.ref = ` + q.arg(f.Ref))
	}
	with := ""
	if others {
		// Against the few marks, which a hash answers, rather than a containment test
		// of every open mutation for every row.
		with = marksSQL
		// (NOT IN of an uncorrelated list is one hashed subplan; a mark without a
		// workload is left out, as its NULL would make NOT IN unknown for every row.)
		obsCond.WriteString(` AND (c.id, o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C") NOT IN
			(SELECT k.id, k.namespace, k.kind, k.name FROM marks k
			 WHERE k.namespace IS NOT NULL AND k.kind IS NOT NULL AND k.name IS NOT NULL)`)
	}
	if others {
		// Nor those behind a tag: SortMutant's part of them comes before.
		st, err := s.behindNow(ctx)
		if err != nil {
			return err
		}
		if len(st.ids) > 0 {
			obsCond.WriteString(fill(notBehindSQL, holes{"id": "c.id", "namespace": `o.namespace COLLATE "C"`,
				"kind": `o.workload_kind COLLATE "C"`, "name": `o.workload_name COLLATE "C"`,
				"ids": q.arg(st.ids), "namespaces": q.arg(st.namespaces), "kinds": q.arg(st.kinds), "names": q.arg(st.names)}))
		}
	}
	if a := after; a != nil {
		cl := q.arg(a.Cluster)
		// Past the cursor's cluster every workload follows it (precedes it, reversed):
		// a workload kind is never empty, so ('', '', '') precedes them all, and
		// U+10FFFF, the greatest character, follows every name Kubernetes allows; this
		// keeps the row comparison an index condition.
		op, edge, clusterOp := ">", "''", ">="
		if f.Desc {
			op, edge, clusterOp = "<", "chr(1114111)", "<="
		}
		clusterCond.WriteString(` AND c.name COLLATE "C" ` + clusterOp + " " + cl)
		obsCond.WriteString(fill(clusterAfterSQL, holes{"cluster": cl, "namespace": q.arg(a.Namespace), "kind": q.arg(a.Kind),
			"name": q.arg(a.Name), "op": op, "edge": edge}))
	}
	sqlText := fill(workloadPageSQL, holes{"with": with, "observations": obsCond.String(), "limit": q.arg(limit),
		"clusters": clusterCond.String(), "dir": direction(f.Desc)})
	return s.readPage(ctx, page, sqlText, q.args, false)
}

// clusterAfterSQL is the condition of clusterPage's observations o after a cursor in
// cluster c: in the cursor's cluster (the hole cluster), after its namespace, kind and
// name (op: > or <); in the others, after edge, which every workload follows.
const clusterAfterSQL = ` AND (o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C") {{op}}
	(CASE WHEN c.name = {{cluster}} THEN {{namespace}} ELSE {{edge}} END, CASE WHEN c.name = {{cluster}} THEN {{kind}} ELSE {{edge}} END,
	 CASE WHEN c.name = {{cluster}} THEN {{name}} ELSE {{edge}} END)`

// workloadKeySQL is f's conditions on the namespace, kind and name of observations o.
func workloadKeySQL(q *query, f WorkloadFilter) string {
	var cond strings.Builder
	if f.Namespace != "" {
		cond.WriteString(` AND o.namespace COLLATE "C" = ` + q.arg(f.Namespace))
	}
	if f.Kind != "" {
		cond.WriteString(` AND o.workload_kind COLLATE "C" = ` + q.arg(f.Kind))
	}
	if f.Name != "" {
		cond.WriteString(` AND o.workload_name COLLATE "C" = ` + q.arg(f.Name))
	}
	return cond.String()
}

// walkPage reads workloads in an order led by a column of running_workloads.
func (s *Store) walkPage(ctx context.Context, page *workloadPage, f WorkloadFilter, order []string, limit int) error {
	var q query
	var cond strings.Builder
	cond.WriteString(pageFilterSQL(&q, f, "c.name", "w.cluster_id", "w.namespace", "w.kind", "w.name"))
	if f.After != nil {
		// The whole order is the walk's index: the row comparison bounds its scan.
		cond.WriteString(" AND " + afterSQL(&q, order, walkColumns, *f.After, f.Desc, false))
	}
	outer := map[string]string{}
	for _, c := range order {
		outer[c] = "q." + c
	}
	sqlText := fill(walkPageSQL, holes{"where": cond.String(), "order": orderSQL(order, walkColumns, f.Desc), "limit": q.arg(limit),
		"outer": orderSQL(order, outer, f.Desc), "bodies": page.bodyColumns("q")})
	return s.readPage(ctx, page, sqlText, q.args, page.withBodies)
}

// runsRefSQL is the condition that a workload (its cluster's id, namespace, kind and
// name, as the holes name them) has an open observation of a reference (ref), through
// observations_open_workload.
const runsRefSQL = ` AND EXISTS (SELECT 1 FROM observations r
	WHERE r.cluster_id = {{id}} AND r.closed_at IS NULL AND r.namespace COLLATE "C" = {{namespace}}
	  AND r.workload_kind COLLATE "C" = {{kind}} AND r.workload_name COLLATE "C" = {{name}} AND r.ref = {{ref}})`

// pageFilterSQL is f's conditions on the workloads of a page read one row a workload
// (mutantPage, walkPage), as the SQL expressions of their cluster's name and id,
// namespace, kind and name: a reference filter asks whether any of the workload's open
// observations runs it.
func pageFilterSQL(q *query, f WorkloadFilter, cluster, id, namespace, kind, name string) string {
	var cond strings.Builder
	cond.WriteString(f.Scope.clusterSQL(q, id))
	if f.Cluster != "" {
		cond.WriteString(" AND " + cluster + " = " + q.arg(f.Cluster))
	}
	if f.Namespace != "" {
		cond.WriteString(" AND " + namespace + " = " + q.arg(f.Namespace))
	}
	if f.Kind != "" {
		cond.WriteString(" AND " + kind + " = " + q.arg(f.Kind))
	}
	if f.Name != "" {
		cond.WriteString(" AND " + name + " = " + q.arg(f.Name))
	}
	if f.Ref != "" {
		// Through observations_open_workload.
		cond.WriteString(fill(runsRefSQL, holes{"id": id, "namespace": namespace, "kind": kind, "name": name, "ref": q.arg(f.Ref)}))
	}
	return cond.String()
}

// readPage reads a page of workloads (id, cluster, namespace, kind, name, mutant, and
// with bodies the bodyColumns).
func (s *Store) readPage(ctx context.Context, page *workloadPage, sqlText string, args []any, bodies bool) error {
	rows, err := s.pool.Query(ctx, sqlText, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k WorkloadKey
		var mutant bool
		b := pageBody{read: bodies}
		dest := []any{&id, &k.Cluster, &k.Namespace, &k.Kind, &k.Name, &mutant}
		if bodies {
			dest = append(dest, &b.Ref, &b.Changed, &b.Containers, &b.Version)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		page.add(id, k, mutant)
		page.bodies = append(page.bodies, b)
	}
	return rows.Err()
}

// workloadPage is a page of workloads, as the arrays workloadRowsSQL takes.
type workloadPage struct {
	ids                      []int64
	namespaces, kinds, names []string
	out                      []Workload
	// withBodies asks the queries that read running_workloads for the bodies too; bodies
	// are what readPage read of each workload in out.
	withBodies bool
	bodies     []pageBody
}

// pageBody is a workload's body as a page's query read it; read is false when the
// query did not read it.
type pageBody struct {
	read       bool
	Ref        string
	Changed    time.Time
	Containers []byte
	Version    *int
}

// bodyColumns is bodyColumns of the query named from when the page asks for bodies,
// else nothing.
func (p *workloadPage) bodyColumns(from string) string {
	if !p.withBodies {
		return ""
	}
	return fill(bodyColumns, holes{"from": from})
}

// grow makes room for n more workloads.
func (p *workloadPage) grow(n int) {
	p.ids, p.namespaces, p.kinds, p.names = slices.Grow(p.ids, n), slices.Grow(p.namespaces, n), slices.Grow(p.kinds, n), slices.Grow(p.names, n)
	p.out, p.bodies = slices.Grow(p.out, n), slices.Grow(p.bodies, n)
}

func (p *workloadPage) add(id int64, k WorkloadKey, mutant bool) {
	p.ids, p.namespaces, p.kinds, p.names = append(p.ids, id), append(p.namespaces, k.Namespace), append(p.kinds, k.Kind), append(p.names, k.Name)
	p.out = append(p.out, Workload{WorkloadKey: k, ClusterID: id, Mutant: mutant, Running: []RunningContainer{}})
}

// index is where each workload is in out, by its cluster's id (names may repeat
// across clusters): built when the page's containers are read, not as it is read.
func (p *workloadPage) index() map[runningKey]int {
	at := make(map[runningKey]int, len(p.out))
	for i, w := range p.out {
		at[runningKey{w.ClusterID, w.Namespace, w.Kind, w.Name}] = i
	}
	return at
}
