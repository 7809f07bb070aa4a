package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
)

// recordEvents records the history events among what a scan opened (d.sightings, its
// new intervals) and closed (d.gone): the rules are detect's (PodDriftEvent,
// TagMovedEvent); this feeds them the earlier sightings they need and stores what they
// return, each event once.
func recordEvents(ctx context.Context, tx pgx.Tx, enc bodies, sc scanState, d intervalDiff, at time.Time) ([]int64, error) {
	if len(d.sightings) == 0 {
		return nil, nil
	}
	drifts, err := podDrifts(ctx, tx, sc, d.sightings, d.gone)
	if err != nil {
		return nil, err
	}
	// The sightings are large: copied only when some are of pinned references.
	unpinned := d.sightings
	if slices.Contains(d.pinned, true) {
		unpinned = make([]detect.Sighting, 0, len(d.sightings))
		for i, s := range d.sightings {
			if !d.pinned[i] {
				unpinned = append(unpinned, s)
			}
		}
	}
	moves, err := tagMoves(ctx, tx, sc, unpinned)
	if err != nil {
		return nil, err
	}
	return storeEventIDs(ctx, tx, enc, sc.clusterID, append(drifts, moves...), at)
}

// podDrifts feeds detect.PodDriftEvent: for each new interval of a container whose
// interval the scan closed, that closed one, which is the container's latest; and when
// it is of another reference or comparison class, the container's latest earlier
// interval of each class under the new one's reference.
func podDrifts(ctx context.Context, tx pgx.Tx, sc scanState, fresh []detect.Sighting, gone []int64) ([]detect.Mutation, error) {
	if len(gone) == 0 {
		return nil, nil
	}
	type container struct{ uid, name string }
	rows, err := tx.Query(ctx, `
		SELECT pod_uid, container, ref, digest, digest_kind, node, arch, first_seen FROM observations WHERE id = ANY($1)`, gone)
	if err != nil {
		return nil, fmt.Errorf("read closed intervals: %w", err)
	}
	earlier := map[container][]detect.Sighting{}
	closed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (detect.Sighting, error) {
		s := detect.Sighting{Place: detect.Place{Cluster: sc.cluster}}
		return s, r.Scan(&s.PodUID, &s.Container, &s.Ref, &s.Digest, &s.Kind, &s.Node, &s.Arch, &s.FirstSeen)
	})
	if err != nil {
		return nil, fmt.Errorf("read closed intervals: %w", err)
	}
	for _, s := range closed {
		k := container{s.PodUID, s.Container}
		earlier[k] = append(earlier[k], s)
	}
	var candidates []detect.Sighting
	var refs, uids, names []string
	for _, f := range fresh {
		k := container{f.PodUID, f.Container}
		prev, ok := earlier[k]
		if !ok {
			continue
		}
		candidates = append(candidates, f)
		if !slices.ContainsFunc(prev, func(e detect.Sighting) bool { return e.Ref == f.Ref && detect.Comparable(e, f) }) {
			refs, uids, names = append(refs, f.Ref), append(uids, f.PodUID), append(names, f.Container)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	// Rare (the closed interval ran another reference or class): the latest earlier
	// interval of each class, through observations_ref_digest (ref, digest, cluster_id,
	// pod_uid).
	if len(refs) > 0 {
		rows, err = tx.Query(ctx, `
			SELECT DISTINCT ON (o.pod_uid, o.container, o.ref, o.digest_kind, o.node, o.arch)
			       o.pod_uid, o.container, o.ref, o.digest, o.digest_kind, o.node, o.arch, o.first_seen
			FROM unnest($1::text[], $2::text[], $3::text[]) AS f (ref, pod_uid, container)
			JOIN observations o ON o.ref = f.ref AND o.cluster_id = $4 AND o.pod_uid = f.pod_uid
			                   AND o.container = f.container AND o.first_seen < $5
			ORDER BY o.pod_uid, o.container, o.ref, o.digest_kind, o.node, o.arch, o.first_seen DESC`,
			refs, uids, names, sc.clusterID, sc.started)
		if err != nil {
			return nil, fmt.Errorf("read what the containers ran before: %w", err)
		}
		before, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (detect.Sighting, error) {
			s := detect.Sighting{Place: detect.Place{Cluster: sc.cluster}}
			return s, r.Scan(&s.PodUID, &s.Container, &s.Ref, &s.Digest, &s.Kind, &s.Node, &s.Arch, &s.FirstSeen)
		})
		if err != nil {
			return nil, fmt.Errorf("read what the containers ran before: %w", err)
		}
		for _, s := range before {
			k := container{s.PodUID, s.Container}
			earlier[k] = append(earlier[k], s)
		}
	}
	var out []detect.Mutation
	for _, f := range candidates {
		if m, ok := detect.PodDriftEvent(earlier[container{f.PodUID, f.Container}], f); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// tagMoves feeds detect.TagMovedEvent: for each new digest of an unpinned reference
// (one sighting per digest and comparison class), whether the reference ran it before,
// and when not, the reference's earlier sightings, one per digest and place class; all
// within the scanned cluster's group (its clusters now, deleted ones included), so
// that another group's history never moves a tag in this one.
func tagMoves(ctx context.Context, tx pgx.Tx, sc scanState, fresh []detect.Sighting) ([]detect.Mutation, error) {
	type refDigest struct{ ref, digest string }
	type candidate struct {
		refDigest
		kind       imageref.Kind
		node, arch string
	}
	seen := map[candidate]bool{}
	var candidates []detect.Sighting
	var refs, digests []string
	for _, f := range fresh {
		if f.Ref == "" || f.Kind == imageref.KindUnknown {
			continue
		}
		c := candidate{refDigest{f.Ref, f.Digest}, f.Kind, f.Node, f.Arch}
		if seen[c] {
			continue
		}
		seen[c] = true
		candidates = append(candidates, f)
		refs, digests = append(refs, f.Ref), append(digests, f.Digest)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	// Most new intervals run a digest their reference ran before (a restart, a scale
	// up, a first scan of a cluster running what others do): found through
	// observations_ref_digest, they need no more history.
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT f.ref, f.digest FROM unnest($1::text[], $2::text[]) AS f (ref, digest)
		WHERE EXISTS (SELECT 1 FROM observations e WHERE e.ref = f.ref AND e.digest = f.digest AND e.first_seen < $3
		              AND e.cluster_id IN (SELECT id FROM clusters WHERE group_id = $4))`,
		refs, digests, sc.started, sc.groupID)
	if err != nil {
		return nil, fmt.Errorf("find digests run before: %w", err)
	}
	ranBefore := map[refDigest]bool{}
	for rows.Next() {
		var k refDigest
		if err := rows.Scan(&k.ref, &k.digest); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find digests run before: %w", err)
		}
		ranBefore[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find digests run before: %w", err)
	}
	earlier := map[string][]detect.Sighting{}
	var newRefs []string
	for _, f := range candidates {
		if k := (refDigest{f.Ref, f.Digest}); ranBefore[k] {
			earlier[f.Ref] = append(earlier[f.Ref], detect.Sighting{Place: detect.Place{Digest: f.Digest}, Ref: f.Ref, Kind: f.Kind})
		} else if _, ok := earlier[f.Ref]; !ok {
			earlier[f.Ref] = nil
			newRefs = append(newRefs, f.Ref)
		}
	}
	if len(newRefs) > 0 {
		rows, err := tx.Query(ctx, `
			SELECT o.ref, c.name, o.digest, o.digest_kind, o.node, o.arch, max(o.first_seen)
			FROM observations o JOIN clusters c ON c.id = o.cluster_id
			WHERE o.ref = ANY($1) AND o.first_seen < $2 AND c.group_id = $3
			GROUP BY o.ref, c.name, o.digest, o.digest_kind, o.node, o.arch`, newRefs, sc.started, sc.groupID)
		if err != nil {
			return nil, fmt.Errorf("read what the references ran before: %w", err)
		}
		history, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (detect.Sighting, error) {
			var s detect.Sighting
			return s, r.Scan(&s.Ref, &s.Cluster, &s.Digest, &s.Kind, &s.Node, &s.Arch, &s.FirstSeen)
		})
		if err != nil {
			return nil, fmt.Errorf("read what the references ran before: %w", err)
		}
		for _, s := range history {
			earlier[s.Ref] = append(earlier[s.Ref], s)
		}
	}
	// One event per reference and new digest, at the first place the scan saw it.
	var out []detect.Mutation
	recorded := map[refDigest]bool{}
	for _, f := range candidates {
		k := refDigest{f.Ref, f.Digest}
		if recorded[k] {
			continue
		}
		if m, ok := detect.TagMovedEvent(earlier[f.Ref], f); ok {
			recorded[k] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// storeEvents inserts events, each once: a tag-moved is its identity, a pod-drift its
// identity at the time it was recorded (detected_at, the scan's), so the same scan's
// write again is one row, and the same change again later (A→B, B→A, A→B) another.
func storeEvents(ctx context.Context, tx pgx.Tx, enc bodies, clusterID int64, events []detect.Mutation, at time.Time) (int, error) {
	ids, err := storeEventIDs(ctx, tx, enc, clusterID, events, at)
	return len(ids), err
}

// storeEventIDs is storeEvents, returning the ids of the events it inserted (for the
// outbox).
func storeEventIDs(ctx context.Context, tx pgx.Tx, enc bodies, clusterID int64, events []detect.Mutation, at time.Time) ([]int64, error) {
	if len(events) == 0 {
		return nil, nil
	}
	b := &pgx.Batch{}
	for _, m := range events {
		places, placesJSON, err := enc.places(m)
		if err != nil {
			return nil, err
		}
		// The unique indexes of migration 000028: a tag-moved once per identity, a
		// pod-drift once per identity and time.
		conflict := `(identity) WHERE kind = 'tag-moved'`
		if m.Kind == detect.PodDrift {
			conflict = `(identity, detected_at) WHERE kind = 'pod-drift'`
		}
		b.Queue(`
			INSERT INTO mutations (identity, kind, cluster_id, cluster, namespace, workload_kind, workload_name,
			                       container, ref, digests, places, places_json, body_version, detected_at, updated_at,
			                       resolved_at, cluster_group, group_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $12, $12, $12,
			        (SELECT g.name FROM clusters c JOIN cluster_groups g ON g.id = c.group_id WHERE c.id = $3),
			        (SELECT c.group_id FROM clusters c WHERE c.id = $3))
			ON CONFLICT `+conflict+` DO NOTHING
			RETURNING id`,
			m.Identity, string(m.Kind), clusterID, m.Cluster, m.Namespace, m.Workload.Kind, m.Workload.Name,
			m.Container, m.Ref, m.Digests, places, at, placesJSON, enc.version())
	}
	res := tx.SendBatch(ctx, b)
	var ids []int64
	for range events {
		var id int64
		err := res.QueryRow().Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // recorded already
		}
		if err != nil {
			res.Close()
			return nil, fmt.Errorf("record events: %w", err)
		}
		ids = append(ids, id)
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("record events: %w", err)
	}
	return ids, nil
}
