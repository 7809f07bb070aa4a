package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// A tag-divergence spans clusters, so the scan of one cluster cannot settle it alone:
// the references whose intervals a transaction changes (a scan's, a cluster's
// deletion) are queued in the rechecks table by that same transaction, and RecheckRefs
// detects their tag-divergences again from what every live cluster runs and removes
// them in the transaction that reconciles them. A failure or a crash in between leaves
// them queued for the next pass, on any replica.

// queueRechecks queues references for RecheckRefs. A reference a recheck holds right
// now waits for it, and is queued again after: that recheck may have read the
// intervals before this transaction changed them.
//
// baseline marks them queued by the first scan of a newly registered cluster: what
// their recheck opens is a baseline, unless another change queued them too.
func queueRechecks(ctx context.Context, tx pgx.Tx, refs []string, at time.Time, baseline bool) error {
	if len(refs) == 0 {
		return nil
	}
	// In one order, so that two transactions queueing the same references never
	// deadlock.
	refs = slices.Sorted(slices.Values(refs))
	_, err := tx.Exec(ctx, `
		INSERT INTO rechecks (ref, queued_at, baseline)
		SELECT ref, $2, $3 FROM unnest($1::text[]) AS r (ref) ORDER BY ref
		ON CONFLICT (ref) DO UPDATE SET queued_at = LEAST(rechecks.queued_at, EXCLUDED.queued_at),
			baseline = rechecks.baseline AND EXCLUDED.baseline`, refs, at, baseline)
	if err != nil {
		return fmt.Errorf("queue %d references for a recheck: %w", len(refs), err)
	}
	return nil
}

// Rechecked is what one pass of RecheckRefs did.
type Rechecked struct {
	Refs int // references rechecked
	Reconciled
}

// RecheckRefs takes up to limit queued references, oldest first, that no other recheck
// holds, detects their tag-divergences again among the open observations of every live
// cluster, within each cluster group, reconciles the stored ones (opened, updated, resolved at at), and removes the
// references from the queue, all in one transaction. Refs is 0 when none was left to
// take.
func (s *Store) RecheckRefs(ctx context.Context, limit int, at time.Time) (Rechecked, error) {
	var r Rechecked
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT ref, baseline FROM rechecks ORDER BY queued_at, ref LIMIT $1 FOR UPDATE SKIP LOCKED`, limitOf(limit))
		if err != nil {
			return fmt.Errorf("take queued references: %w", err)
		}
		var refs []string
		baseline := map[string]bool{}
		for rows.Next() {
			var ref string
			var b bool
			if err := rows.Scan(&ref, &b); err != nil {
				rows.Close()
				return fmt.Errorf("take queued references: %w", err)
			}
			refs = append(refs, ref)
			baseline[ref] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("take queued references: %w", err)
		}
		if len(refs) == 0 {
			return nil
		}
		pods, err := openPods(ctx, tx, refs)
		if err != nil {
			return err
		}
		taken := make(map[string]bool, len(refs))
		for _, ref := range refs {
			taken[ref] = true
		}
		var found []detect.Mutation
		for _, m := range detect.Detect(pods) {
			if m.Kind == detect.TagDivergence && taken[m.Ref] {
				found = append(found, m)
			}
		}
		var changes []mutationChange
		if r.Reconciled, changes, err = reconcile(ctx, tx, s.bodies, scope{refs: refs}, found, at); err != nil {
			return err
		}
		if err := s.writeOutbox(ctx, tx, changes, at, notify.ReasonConverged,
			func(m Mutation) bool { return baseline[m.Ref] }, nil); err != nil {
			return fmt.Errorf("write the notifications of the recheck: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rechecks WHERE ref = ANY($1)`, refs); err != nil {
			return fmt.Errorf("remove rechecked references: %w", err)
		}
		r.Refs = len(refs)
		if !r.Changed() {
			return nil
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Rechecked{}, fmt.Errorf("recheck references: %w", err)
	}
	return r, nil
}

// QueuedRechecks returns the references queued for a recheck, in order.
func (s *Store) QueuedRechecks(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT ref FROM rechecks ORDER BY ref`)
	if err != nil {
		return nil, fmt.Errorf("queued rechecks: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("queued rechecks: %w", err)
	}
	return refs, nil
}

// openPods returns what the live clusters run now (their open observations) of the
// given unpinned references, as inventory pods holding just those containers, each
// with its cluster's group: detection correlates within a group only.
func openPods(ctx context.Context, tx pgx.Tx, refs []string) ([]inventory.Pod, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.name, g.name, o.namespace, o.pod, o.pod_uid, o.node, o.arch, o.runtime, o.workload_kind, o.workload_name,
		       o.controller_kind, o.controller_name, o.controller_uid, o.revision,
		       o.container, o.container_type, o.image, o.image_id
		FROM observations o JOIN clusters c ON c.id = o.cluster_id JOIN cluster_groups g ON g.id = c.group_id
		WHERE o.closed_at IS NULL AND NOT o.pinned AND o.ref = ANY($1)
		ORDER BY o.cluster_id, o.pod_uid`, refs)
	if err != nil {
		return nil, fmt.Errorf("read what runs %d references: %w", len(refs), err)
	}
	defer rows.Close()
	parser := imageref.NewParser()
	var pods []inventory.Pod
	for rows.Next() {
		var p inventory.Pod
		var uid, ctlUID, name, typ, image, imageID string
		if err := rows.Scan(&p.Cluster, &p.Group, &p.Namespace, &p.Name, &uid, &p.Node, &p.Arch, &p.Runtime,
			&p.Workload.Kind, &p.Workload.Name, &p.Controller.Kind, &p.Controller.Name, &ctlUID, &p.Controller.Revision,
			&name, &typ, &image, &imageID); err != nil {
			return nil, fmt.Errorf("read what runs %d references: %w", len(refs), err)
		}
		p.UID, p.Controller.UID = types.UID(uid), types.UID(ctlUID)
		c := inventory.Container{Name: name, Type: inventory.ContainerType(typ), Ref: parser.Ref(image), ID: parser.ImageID(imageID)}
		if n := len(pods); n > 0 && pods[n-1].Cluster == p.Cluster && pods[n-1].UID == p.UID {
			pods[n-1].Containers = append(pods[n-1].Containers, c)
			continue
		}
		p.Containers = []inventory.Container{c}
		pods = append(pods, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read what runs %d references: %w", len(refs), err)
	}
	return pods, nil
}
