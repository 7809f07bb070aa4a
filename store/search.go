package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SearchLimit bounds each kind of match Search returns.
const SearchLimit = 20

// SearchResult is what a search term matches.
type SearchResult struct {
	// Digests that begin with the term (a digest or a hex prefix of one), sorted.
	Digests []string
	// Refs are the normalized references seen: the term's own, or those of its
	// repository (any tag), sorted.
	Refs []string
	// Workloads running now whose name, or a pod's, begins with the term.
	Workloads []WorkloadKey
	// Clusters whose name begins with the term, and namespaces (with a workload running
	// now) whose name does.
	Clusters, Namespaces []string
}

// upTo is the upper bound of a prefix range under the "C" collation: nothing that begins
// with the prefix sorts after the prefix and the highest code point.
func upTo(prefix string) string { return prefix + string(rune(0x10FFFF)) }

// dashPrefixes are the beginnings of term that a '-' follows: the names of the workloads
// whose pods' names ("<workload>-…") the term can begin without beginning the
// workload's name.
func dashPrefixes(term string) []string {
	var out []string
	for i := range len(term) {
		if term[i] == '-' && i > 0 {
			out = append(out, term[:i])
		}
	}
	return out
}

// Search looks up a search box's term. digestPrefix is "sha256:" and at least a few hex
// characters ("" to skip), ref the term normalized as a reference and repo its
// repository ("" to skip), refPart what references may hold as whole path segments at
// their end or before their tag ("" to skip), name the term as a prefix of workload,
// pod, cluster and namespace names ("" to skip). Everything it finds is of the clusters
// in scope sc: what is outside it is not found.
func (s *Store) Search(ctx context.Context, digestPrefix, ref, repo, refPart, name string, sc Scope) (SearchResult, error) {
	var out SearchResult
	b := &pgx.Batch{}
	if digestPrefix != "" {
		// A range on the digest index: digests are hex, so the prefix's upper bound is the
		// prefix followed by the character after 'f'. The walk skips from a digest to the
		// next, at most SearchLimit times: a digest that runs in many pods has thousands
		// of intervals, which DISTINCT read one by one (10,000 entries, 13 ms).
		// A limited scope walks the reference summary's digest index instead, a row a
		// digest, reference and cluster, skipping the clusters outside the scope: an
		// ambiguous prefix counts only the digests the scope runs or ran.
		table, cond := "observations", ""
		q := query{args: []any{digestPrefix, digestPrefix + "g", SearchLimit}}
		if sc.Limited {
			table, cond = "ref_digest_clusters", sc.clusterSQL(&q, "o.cluster_id")
		}
		b.Queue(fill(`WITH RECURSIVE d (digest, n) AS (
				(SELECT o.digest, 1 FROM {{table}} o WHERE o.digest >= $1 AND o.digest < $2 {{scope}} ORDER BY o.digest LIMIT 1)
				UNION ALL
				SELECT (SELECT o.digest FROM {{table}} o WHERE o.digest > d.digest AND o.digest < $2 {{scope}} ORDER BY o.digest LIMIT 1), d.n + 1
				FROM d WHERE d.digest IS NOT NULL AND d.n < $3)
			SELECT digest FROM d WHERE starts_with(digest, $1) ORDER BY digest`, holes{"table": table, "scope": cond}),
			q.args...).Query(func(rows pgx.Rows) error {
			var err error
			out.Digests, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	}
	if ref != "" {
		// From the reference summary, which holds the references of the intervals one row
		// a digest and cluster: the intervals' own index would be walked through every
		// interval of every tag of the repository.
		q := query{args: []any{ref, repo + ":", repo + ";", SearchLimit}}
		cond := sc.clusterSQL(&q, "cluster_id")
		b.Queue(`(SELECT ref FROM ref_digest_clusters WHERE ref = $1`+cond+` LIMIT 1)
			UNION
			(SELECT DISTINCT ref FROM ref_digest_clusters WHERE ref > $2 AND ref < $3 AND starts_with(ref, $2)`+cond+` ORDER BY ref LIMIT $4)
			ORDER BY 1`, q.args...).Query(func(rows pgx.Rows) error {
			var err error
			out.Refs, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	}
	if refPart != "" {
		// A reference written in part ("team/app:stable", "app:stable", "team"): the
		// known references with those whole path segments at their end or before a tag.
		// The summary holds a row a reference, digest and cluster: a scan of it is small,
		// if the regular expression runs only on the references that hold the part at all
		// (CASE keeps that order: the planner would run the expression first, ten times
		// slower, 40-50 ms at 1M intervals).
		q := query{args: []any{refPart, `(^|/)` + regexp.QuoteMeta(refPart) + `($|[:@/])`, SearchLimit}}
		b.Queue(`SELECT DISTINCT ref FROM ref_digest_clusters
			WHERE CASE WHEN strpos(ref, $1) > 0 THEN ref ~ $2 END`+sc.clusterSQL(&q, "cluster_id")+` ORDER BY ref LIMIT $3`,
			q.args...).Query(func(rows pgx.Rows) error {
			more, err := pgx.CollectRows(rows, pgx.RowTo[string])
			out.Refs = append(out.Refs, more...)
			return err
		})
	}
	if name = strings.TrimSpace(name); name != "" {
		// Sorted by bytes, as every list is, whatever the database's locale. Workloads
		// whose name begins with the term, from the running workloads' name index; a pod
		// named as its workload ("web", "web-0", "web-7d4b9c-x2x9k") begins with the term
		// either because its workload's name does, or because the term is its workload's
		// name, a '-' and more: those workloads by name, and the open intervals of each
		// for a pod; the other pods (oddPod) from running_pods' key. Index look-ups all:
		// reading every open interval's pod took 70-120 ms at 1M intervals.
		q := query{args: []any{name, upTo(name), SearchLimit, dashPrefixes(name)}}
		inScope := sc.groupSQL(&q, "c.group_id")
		b.Queue(`SELECT * FROM (
				SELECT c.name COLLATE "C" AS cluster, w.namespace, w.kind, w.name FROM running_workloads w
					JOIN clusters c ON c.id = w.cluster_id AND c.deleted_at IS NULL`+inScope+`
					WHERE w.name >= $1 AND w.name < $2 AND starts_with(w.name, $1)
				UNION
				SELECT c.name COLLATE "C", w.namespace, w.kind, w.name FROM running_workloads w
					JOIN clusters c ON c.id = w.cluster_id AND c.deleted_at IS NULL`+inScope+`
					WHERE w.name = ANY($4::text[]) AND EXISTS (
						SELECT 1 FROM observations o
						WHERE o.cluster_id = w.cluster_id AND o.namespace COLLATE "C" = w.namespace
						  AND o.workload_kind COLLATE "C" = w.kind AND o.workload_name COLLATE "C" = w.name
						  AND o.closed_at IS NULL AND starts_with(o.pod, $1))
				UNION
				SELECT c.name COLLATE "C", p.namespace, p.kind, p.name FROM running_pods p
					JOIN clusters c ON c.id = p.cluster_id AND c.deleted_at IS NULL`+inScope+`
					WHERE p.pod >= $1 AND p.pod < $2 AND starts_with(p.pod, $1)) m
			ORDER BY 1, 2, 3, 4 LIMIT $3`,
			q.args...).Query(func(rows pgx.Rows) error {
			var err error
			out.Workloads, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkloadKey, error) {
				var k WorkloadKey
				return k, r.Scan(&k.Cluster, &k.Namespace, &k.Kind, &k.Name)
			})
			return err
		})
		q = query{args: []any{name, SearchLimit}}
		b.Queue(`SELECT name FROM clusters WHERE deleted_at IS NULL AND starts_with(name, $1)`+sc.groupSQL(&q, "group_id")+`
			ORDER BY name COLLATE "C" LIMIT $2`, q.args...).Query(func(rows pgx.Rows) error {
			var err error
			out.Clusters, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		q = query{args: []any{name, upTo(name), SearchLimit}}
		b.Queue(`SELECT DISTINCT namespace FROM running_workloads
			WHERE namespace >= $1 AND namespace < $2 AND starts_with(namespace, $1)`+sc.clusterSQL(&q, "cluster_id")+`
			ORDER BY namespace LIMIT $3`, q.args...).Query(func(rows pgx.Rows) error {
			var err error
			out.Namespaces, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	}
	if b.Len() == 0 {
		return out, nil
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return SearchResult{}, fmt.Errorf("search: %w", err)
	}
	slices.Sort(out.Refs)
	out.Refs = slices.Compact(out.Refs)
	return out, nil
}

// KnownRefs lists the references tagdrift has seen, at most limit, sorted: what a search
// that matched nothing offers the nearest of; those of the clusters in scope sc.
func (s *Store) KnownRefs(ctx context.Context, limit int, sc Scope) ([]string, error) {
	q := query{args: []any{limit}}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ref FROM ref_digest_clusters WHERE true`+sc.clusterSQL(&q, "cluster_id")+` ORDER BY ref LIMIT $1`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("known references: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("known references: %w", err)
	}
	return refs, nil
}
