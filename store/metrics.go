package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LastSucceeded is a live cluster and when its latest succeeded scan started.
type LastSucceeded struct {
	Cluster string
	Group   string
	// StartedAt is when the cluster's latest succeeded scan started; nil when none has.
	StartedAt *time.Time
}

// LastSucceededScans returns every live (not deleted) cluster, by name, with when its
// latest succeeded scan started: what the metrics' staleness gauge reports, the same on
// every replica, and without the clusters deleted since.
func (s *Store) LastSucceededScans(ctx context.Context) ([]LastSucceeded, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.name, (SELECT g.name FROM cluster_groups g WHERE g.id = c.group_id),
		       (SELECT ok.started_at FROM scans ok WHERE ok.cluster_id = c.id AND ok.status = 'succeeded'
		        ORDER BY ok.id DESC LIMIT 1)
		FROM clusters c WHERE c.deleted_at IS NULL ORDER BY c.name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("last succeeded scans: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LastSucceeded, error) {
		var l LastSucceeded
		return l, r.Scan(&l.Cluster, &l.Group, &l.StartedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("last succeeded scans: %w", err)
	}
	return out, nil
}
