package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Behind the tag (DESIGN section 3) is not a mutation: a workload that runs, for an
// unpinned reference, only digests the reference's tag has since moved away from in the
// workload's cluster group. Its next restart is likely to change its code.
//
// Where a tag points is the digest of its newest tag-moved event in the group: the
// newest digest tagdrift saw the reference move to. The digests it moved away from are
// the other digests of its moves there, all comparable with it (a move is recorded only
// between comparable digests), so a digest of another class (an image ID kept raw, a
// local import) is never judged behind. A tag that went back to a digest it had before
// is no move (only the registry could tell that from a node's cached copy): its
// workloads read behind until it moves again. Events lost to retention judge nothing.

// BehindRef is one reference a workload runs behind its tag.
type BehindRef struct {
	Ref string
	// Digests are the digests of Ref the workload runs: each one its tag moved away from.
	Digests []string
	// Tag is the digest Ref's tag points to now in the workload's cluster group (its
	// newest move there), since MovedAt.
	Tag     string
	MovedAt time.Time
}

// behindSQL is the rule, its one place: the CTE behind holds, for each workload of a
// live cluster behind a reference's tag, a row (id, cluster, namespace, kind, name, ref,
// digests, tag, moved_at). The hole observations is extra conditions on the open
// observations o read (of workloads in cluster c.id); the moves are few, read whole.
const behindSQL = `
	WITH moves AS MATERIALIZED (
		SELECT m.id, m.ref, m.cluster_group, m.digests[1] AS from_digest, m.digests[2] AS to_digest, m.detected_at
		FROM mutations m
		WHERE m.kind = 'tag-moved' AND cardinality(m.digests) = 2
	), targets AS MATERIALIZED (
		SELECT DISTINCT ON (ref, cluster_group) ref, cluster_group, to_digest AS digest, detected_at AS moved_at
		FROM moves
		ORDER BY ref, cluster_group, detected_at DESC, id DESC
	), moved_from AS MATERIALIZED (
		SELECT DISTINCT m.ref, m.cluster_group, d.digest
		FROM moves m
		CROSS JOIN LATERAL (VALUES (m.from_digest), (m.to_digest)) d (digest)
		JOIN targets t ON t.ref = m.ref AND t.cluster_group = m.cluster_group AND t.digest <> d.digest
	), live AS MATERIALIZED (
		SELECT c.id, c.name COLLATE "C" AS cluster, g.name AS cluster_group
		FROM clusters c JOIN cluster_groups g ON g.id = c.group_id
		WHERE c.deleted_at IS NULL
	), old AS MATERIALIZED (
		SELECT c.id, c.cluster, o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
		       o.workload_name COLLATE "C" AS name, o.ref, array_agg(DISTINCT o.digest) AS digests, t.digest AS tag, t.moved_at
		FROM moved_from f
		JOIN live c ON c.cluster_group = f.cluster_group
		JOIN targets t ON t.ref = f.ref AND t.cluster_group = f.cluster_group
		JOIN observations o ON o.ref = f.ref AND o.digest = f.digest AND o.cluster_id = c.id AND o.closed_at IS NULL
		WHERE true {{observations}}
		GROUP BY c.id, c.cluster, o.namespace, o.workload_kind, o.workload_name, o.ref, t.digest, t.moved_at
	), current AS MATERIALIZED (
		SELECT DISTINCT c.id, o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
		       o.workload_name COLLATE "C" AS name, o.ref
		FROM targets t
		JOIN live c ON c.cluster_group = t.cluster_group
		JOIN observations o ON o.ref = t.ref AND o.digest = t.digest AND o.cluster_id = c.id AND o.closed_at IS NULL
		WHERE true {{observations}}
	), behind AS (
		SELECT b.* FROM old b
		WHERE NOT EXISTS (SELECT 1 FROM current n
			WHERE n.id = b.id AND n.namespace = b.namespace AND n.kind = b.kind AND n.name = b.name AND n.ref = b.ref)
	)`

// behindOfPageSQL restricts behindSQL's observations to a page's workloads: $1 to $4
// are their cluster ids, namespaces, kinds and names (as workloadRowsSQL's).
const behindOfPageSQL = ` AND (o.cluster_id, o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C")
	IN (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]))`

// fillBehind sets the Behind of each workload of page (page.out) that is behind a tag.
func (s *Store) fillBehind(ctx context.Context, page *workloadPage) error {
	if len(page.out) == 0 {
		return nil
	}
	sqlText := fill(behindSQL, holes{"observations": behindOfPageSQL}) + `
		SELECT id, namespace, kind, name, ref, digests, tag, moved_at FROM behind`
	rows, err := s.pool.Query(ctx, sqlText, page.ids, page.namespaces, page.kinds, page.names)
	if err != nil {
		return fmt.Errorf("workloads behind their tags: %w", err)
	}
	defer rows.Close()
	at := page.index()
	for rows.Next() {
		var k runningKey
		var b BehindRef
		if err := rows.Scan(&k.clusterID, &k.namespace, &k.kind, &k.name, &b.Ref, &b.Digests, &b.Tag, &b.MovedAt); err != nil {
			return fmt.Errorf("workloads behind their tags: %w", err)
		}
		slices.Sort(b.Digests)
		b.MovedAt = b.MovedAt.UTC()
		if i, ok := at[k]; ok {
			page.out[i].Behind = append(page.out[i].Behind, b)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("workloads behind their tags: %w", err)
	}
	for i := range page.out {
		slices.SortFunc(page.out[i].Behind, func(a, b BehindRef) int { return strings.Compare(a.Ref, b.Ref) })
	}
	return nil
}

// CountBehind counts the workloads of live clusters behind a tag (each once, however
// many of its references are).
func (s *Store) CountBehind(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, fill(behindSQL, holes{"observations": ""})+`
		SELECT count(*) FROM (SELECT DISTINCT id, namespace, kind, name FROM behind) w`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the workloads behind their tags: %w", err)
	}
	return n, nil
}

// behindPageSQL pages through the workloads behind a tag, as mutantPageSQL through the
// places of open mutations, each with its sort keys from running_workloads a. The holes
// are mutantPageSQL's, and observations (behindSQL's).
const behindPageSQL = behindSQL + `, marks AS MATERIALIZED (SELECT DISTINCT id, cluster, namespace, kind, name FROM behind)
	SELECT k.id, k.cluster, k.namespace, k.kind, k.name,
	       place_of_open_mutation(k.id, k.cluster, k.namespace, k.kind, k.name) {{bodies}}
	FROM marks k
	JOIN running_workloads a ON a.cluster_id = k.id AND a.namespace = k.namespace AND a.kind = k.kind AND a.name = k.name
	WHERE true {{where}}
	ORDER BY {{order}}
	LIMIT {{limit}}`

// behindPage reads the workloads behind a tag in an order.
func (s *Store) behindPage(ctx context.Context, page *workloadPage, f WorkloadFilter, order []string, limit int) error {
	var q query
	var cond strings.Builder
	cond.WriteString(pageFilterSQL(&q, f, "k.cluster", "k.id", "k.namespace", "k.kind", "k.name"))
	if f.After != nil {
		cond.WriteString(" AND " + afterSQL(&q, order, markColumns, *f.After, f.Desc, false))
	}
	sqlText := fill(behindPageSQL, holes{"observations": "", "bodies": page.bodyColumns("a"), "where": cond.String(),
		"order": orderSQL(order, markColumns, f.Desc), "limit": q.arg(limit)})
	if err := s.readPage(ctx, page, sqlText, q.args, page.withBodies); err != nil {
		return fmt.Errorf("workloads behind their tags: %w", err)
	}
	return nil
}
