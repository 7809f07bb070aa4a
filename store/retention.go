package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pruned is what one retention run deleted.
type Pruned struct {
	Intervals int
	Mutations int
}

// PruneHistory deletes the closed intervals and resolved mutations that ended before
// before, at most batch rows a transaction, so that no lock is held long: each batch
// locks only the rows it deletes (skipping those another transaction holds) and the
// summary rows it refreshes. It returns when nothing older is left or ctx ends.
func (s *Store) PruneHistory(ctx context.Context, before time.Time, batch int) (Pruned, error) {
	var p Pruned
	if batch <= 0 {
		batch = 1000
	}
	for {
		n, err := s.pruneIntervals(ctx, before, batch)
		p.Intervals += n
		if err != nil {
			return p, err
		}
		if n < batch {
			break
		}
	}
	for {
		n, err := s.pruneMutations(ctx, before, batch)
		p.Mutations += n
		if err != nil {
			return p, err
		}
		if n < batch {
			break
		}
	}
	return p, nil
}

func (s *Store) pruneIntervals(ctx context.Context, before time.Time, batch int) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			DELETE FROM observations WHERE id IN (
				SELECT id FROM observations WHERE closed_at < $1 ORDER BY closed_at LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING cluster_id, ref, digest`, before, batch)
		if err != nil {
			return fmt.Errorf("delete intervals: %w", err)
		}
		keys := summaryKeys{}
		for rows.Next() {
			var c int64
			var ref, digest string
			if err := rows.Scan(&c, &ref, &digest); err != nil {
				rows.Close()
				return fmt.Errorf("delete intervals: %w", err)
			}
			keys.add(c, ref, digest)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("delete intervals: %w", err)
		}
		if n == 0 {
			return nil
		}
		if err := refreshSummary(ctx, tx, keys); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("prune intervals closed before %s: %w", before.Format(time.RFC3339), err)
	}
	return n, nil
}

func (s *Store) pruneMutations(ctx context.Context, before time.Time, batch int) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM mutations WHERE id IN (
				SELECT id FROM mutations WHERE resolved_at < $1 ORDER BY resolved_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			before, batch)
		if err != nil {
			return fmt.Errorf("delete mutations: %w", err)
		}
		if n = int(tag.RowsAffected()); n == 0 {
			return nil
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("prune mutations resolved before %s: %w", before.Format(time.RFC3339), err)
	}
	return n, nil
}
