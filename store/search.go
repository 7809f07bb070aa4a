package store

import (
	"context"
	"fmt"
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
	// Workloads running now that are named so, or have a pod named so.
	Workloads []WorkloadKey
}

// Search looks up a search box's term. digestPrefix is "sha256:" and at least a few hex
// characters ("" to skip), ref the term normalized as a reference and repo its
// repository ("" to skip), name a workload or pod name ("" to skip).
func (s *Store) Search(ctx context.Context, digestPrefix, ref, repo, name string) (SearchResult, error) {
	var out SearchResult
	b := &pgx.Batch{}
	if digestPrefix != "" {
		// A range on the digest index: digests are hex, so the prefix's upper bound is the
		// prefix followed by the character after 'f'.
		b.Queue(`SELECT DISTINCT digest FROM observations WHERE digest >= $1 AND digest < $2 AND starts_with(digest, $1) ORDER BY digest LIMIT $3`,
			digestPrefix, digestPrefix+"g", SearchLimit).Query(func(rows pgx.Rows) error {
			var err error
			out.Digests, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	}
	if ref != "" {
		// From the reference summary, which holds the references of the intervals one row
		// a digest and cluster: the intervals' own index would be walked through every
		// interval of every tag of the repository.
		b.Queue(`(SELECT ref FROM ref_digest_clusters WHERE ref = $1 LIMIT 1)
			UNION
			(SELECT DISTINCT ref FROM ref_digest_clusters WHERE ref > $2 AND ref < $3 AND starts_with(ref, $2) ORDER BY ref LIMIT $4)
			ORDER BY 1`, ref, repo+":", repo+";", SearchLimit).Query(func(rows pgx.Rows) error {
			var err error
			out.Refs, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	}
	if name = strings.TrimSpace(name); name != "" {
		// Sorted by bytes, as every list is, whatever the database's locale. (Reads every
		// open interval: an index on their pods would make this an index look-up, and
		// cost every first scan about 5 % more.)
		b.Queue(`SELECT DISTINCT c.name COLLATE "C", o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C"
			FROM observations o JOIN clusters c ON c.id = o.cluster_id AND c.deleted_at IS NULL
			WHERE o.closed_at IS NULL AND (o.workload_name = $1 OR o.pod = $1)
			ORDER BY 1, 2, 3, 4 LIMIT $2`, name, SearchLimit).Query(func(rows pgx.Rows) error {
			var err error
			out.Workloads, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkloadKey, error) {
				var k WorkloadKey
				return k, r.Scan(&k.Cluster, &k.Namespace, &k.Kind, &k.Name)
			})
			return err
		})
	}
	if b.Len() == 0 {
		return out, nil
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return SearchResult{}, fmt.Errorf("search: %w", err)
	}
	return out, nil
}
