package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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
// digests, tag, moved_at). The hole open is a query of the open observations to judge,
// as (id, namespace, kind, name, ref, digest) of live clusters' workloads, of the
// references that moved (moved_refs): all of a workload's of such a reference, or the
// workload is judged on part of its pods. The moves are few, read whole.
const behindSQL = `
	WITH moves AS MATERIALIZED (
		SELECT m.id, m.ref, m.cluster_group, m.digests[1] AS from_digest, m.digests[2] AS to_digest, m.detected_at
		FROM mutations m
		WHERE m.kind = 'tag-moved' AND cardinality(m.digests) = 2
	), newest AS MATERIALIZED (
		SELECT DISTINCT ON (ref, cluster_group) ref, cluster_group, to_digest AS digest, detected_at AS moved_at
		FROM moves
		ORDER BY ref, cluster_group, detected_at DESC, id DESC
	), targets AS MATERIALIZED (
		-- Where each tag points, and the digests it moved away from (left).
		SELECT n.ref, n.cluster_group, n.digest, n.moved_at,
		       array(SELECT DISTINCT d.digest FROM moves m CROSS JOIN LATERAL (VALUES (m.from_digest), (m.to_digest)) d (digest)
		             WHERE m.ref = n.ref AND m.cluster_group = n.cluster_group AND d.digest <> n.digest) AS left_digests
		FROM newest n
	), moved_refs AS MATERIALIZED (
		SELECT DISTINCT ref FROM targets
	), live AS MATERIALIZED (
		SELECT c.id, c.name COLLATE "C" AS cluster, g.name AS cluster_group
		FROM clusters c JOIN cluster_groups g ON g.id = c.group_id
		WHERE c.deleted_at IS NULL
	), open AS MATERIALIZED ({{open}}
	), behind AS (
		SELECT o.id, c.cluster, o.namespace, o.kind, o.name, o.ref,
		       array_agg(DISTINCT o.digest) FILTER (WHERE o.digest = ANY(t.left_digests)) AS digests, t.digest AS tag, t.moved_at
		FROM open o
		JOIN live c ON c.id = o.id
		JOIN targets t ON t.ref = o.ref AND t.cluster_group = c.cluster_group
		GROUP BY o.id, c.cluster, o.namespace, o.kind, o.name, o.ref, t.digest, t.moved_at
		-- None of its pods runs what the tag points to, and some run what it left.
		HAVING bool_and(o.digest <> t.digest) AND bool_or(o.digest = ANY(t.left_digests))
	)`

// openOfMovedSQL is behindSQL's open for the whole fleet: from the summary's running
// references and digests of the moved references (ref_digest_clusters, a row a
// reference, digest and cluster), their open observations through the partial index of
// open ones by digest and cluster, never the closed history; one row a workload,
// reference and digest (its pods' rows say no more). behindSQL keeps only live
// clusters'.
const openOfMovedSQL = `
		SELECT DISTINCT o.cluster_id AS id, o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
		       o.workload_name COLLATE "C" AS name, o.ref, o.digest
		FROM ref_digest_clusters r
		-- Through observations_open_digest_cluster: the reference is a filter, not a key,
		-- or the planner walks the index of every interval by reference and digest.
		JOIN observations o ON o.digest = r.digest AND o.cluster_id = r.cluster_id AND o.closed_at IS NULL
		WHERE r.running > 0 AND r.ref IN (SELECT ref FROM moved_refs) AND o.ref || '' = r.ref`

// openOfPageSQL is behindSQL's open for a page of workloads, through
// observations_open_workload: $1 to $4 are their cluster ids, namespaces, kinds and
// names (as workloadRowsSQL's).
const openOfPageSQL = `
		SELECT o.cluster_id AS id, o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
		       o.workload_name COLLATE "C" AS name, o.ref, o.digest
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS p (id, namespace, kind, name)
		JOIN observations o ON o.cluster_id = p.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = p.namespace
		                   AND o.workload_kind COLLATE "C" = p.kind AND o.workload_name COLLATE "C" = p.name
		WHERE o.ref IN (SELECT ref FROM moved_refs)`

// fillBehind sets the Behind of each workload of page (page.out) that is behind a tag.
func (s *Store) fillBehind(ctx context.Context, page *workloadPage) error {
	if len(page.out) == 0 {
		return nil
	}
	sqlText := fill(behindSQL, holes{"open": openOfPageSQL}) + `
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
// many of its references are). The count reads every open observation of the moved
// references (about 130 ms at 1M rows on the benchmark fleet, where every workload runs
// one), so the store keeps the last count with the data version it was read at (one
// statement reads both): a count asked again before the data changes is one row's read.
func (s *Store) CountBehind(ctx context.Context) (int, error) {
	var version int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM data_version`).Scan(&version); err != nil {
		return 0, fmt.Errorf("count the workloads behind their tags: %w", err)
	}
	if n, ok := s.behind.get(version); ok {
		return n, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, fill(behindSQL, holes{"open": openOfMovedSQL})+`
		SELECT (SELECT version FROM data_version), (SELECT count(*) FROM (SELECT DISTINCT id, namespace, kind, name FROM behind) w)`).
		Scan(&version, &n)
	if err != nil {
		return 0, fmt.Errorf("count the workloads behind their tags: %w", err)
	}
	s.behind.put(version, n)
	return n, nil
}

// behindCount is the last CountBehind and the data version it was read at.
type behindCount struct {
	mu      sync.Mutex
	version int64
	n       int
	ok      bool
}

func (c *behindCount) get(version int64) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.ok && c.version == version
}

func (c *behindCount) put(version int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok || version >= c.version {
		c.version, c.n, c.ok = version, n, true
	}
}

// behindPageSQL pages through the workloads behind a tag, as mutantPageSQL through the
// places of open mutations, each with its sort keys from running_workloads a. The holes
// are mutantPageSQL's, and open (behindSQL's).
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
	sqlText := fill(behindPageSQL, holes{"open": openOfMovedSQL, "bodies": page.bodyColumns("a"), "where": cond.String(),
		"order": orderSQL(order, markColumns, f.Desc), "limit": q.arg(limit)})
	if err := s.readPage(ctx, page, sqlText, q.args, page.withBodies); err != nil {
		return fmt.Errorf("workloads behind their tags: %w", err)
	}
	return nil
}
