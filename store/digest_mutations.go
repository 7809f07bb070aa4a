package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DigestMutationsLimit bounds the mutations DigestMutations returns.
const DigestMutationsLimit = 50

// DigestMutations returns the newest limit mutations and events (tag moves, pod drifts)
// of the references refs whose digests include digest, resolved or not, newest first:
// those of a digest's page. It reads them through mutations_ref (ref, detected_at), so
// refs should be the references seen running the digest (DigestUses' Refs): a mutation
// names the reference its digests ran under. Only those in scope sc.
func (s *Store) DigestMutations(ctx context.Context, digest string, refs []string, limit int, sc Scope) ([]Mutation, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if limit <= 0 || limit > DigestMutationsLimit {
		limit = DigestMutationsLimit
	}
	q := query{args: []any{refs, digest, limit}}
	rows, err := s.pool.Query(ctx, mutationSQL+`
		WHERE m.ref = ANY($1) AND $2 = ANY(m.digests)`+sc.mutationSQL(&q, "m")+`
		ORDER BY m.detected_at DESC, m.id DESC LIMIT $3`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("mutations of digest %s: %w", digest, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutation(r) })
	if err != nil {
		return nil, fmt.Errorf("mutations of digest %s: %w", digest, err)
	}
	return out, nil
}

// TagTarget is where a reference's tag points now in one cluster group, as far as
// tagdrift saw: the digest of its newest move there (DESIGN section 3: what a workload
// behind the tag is behind), with the move's time and the digest it left.
type TagTarget struct {
	Ref, Group string
	Digest     string
	From       string
	MovedAt    time.Time
}

// TagTargets returns, for each of refs and each cluster group in which it moved, the
// digest of its newest tag-moved event, by reference and group. A reference tagdrift
// never saw move has none. Only the moves in scope sc count.
func (s *Store) TagTargets(ctx context.Context, refs []string, sc Scope) ([]TagTarget, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	q := query{args: []any{refs}}
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (m.ref, m.cluster_group) m.ref, m.cluster_group, m.digests[1], m.digests[2], m.detected_at
		FROM mutations m
		WHERE m.kind = 'tag-moved' AND m.ref = ANY($1) AND cardinality(m.digests) = 2`+sc.mutationSQL(&q, "m")+`
		ORDER BY m.ref, m.cluster_group, m.detected_at DESC, m.id DESC`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("where the tags point: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagTarget, error) {
		var t TagTarget
		return t, r.Scan(&t.Ref, &t.Group, &t.From, &t.Digest, &t.MovedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("where the tags point: %w", err)
	}
	return out, nil
}
