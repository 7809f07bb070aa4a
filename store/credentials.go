package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// A cluster's credentials are sealed with the store's keyring, bound to its row.

// aad binds a cluster's sealed credentials to its row.
func aad(id int64) []byte { return []byte("cluster:" + strconv.FormatInt(id, 10)) }

// Credentials opens a live cluster's sealed credentials; ErrNotFound for a deleted one,
// whose credentials are gone.
func (s *Store) Credentials(ctx context.Context, id int64) ([]byte, error) {
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT kubeconfig FROM clusters WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("credentials of cluster %d: %w", id, notFound(err))
	}
	plain, err := s.keys.Open(sealed, aad(id))
	if err != nil {
		return nil, fmt.Errorf("credentials of cluster %d: %w", id, err)
	}
	return plain, nil
}

// CheckCredentials opens every live cluster's credentials, so that a wrong or missing key
// fails when the service starts, not at the first scan.
func (s *Store) CheckCredentials(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT id, name, kubeconfig FROM clusters WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read credentials: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		var sealed []byte
		if err := rows.Scan(&id, &name, &sealed); err != nil {
			return fmt.Errorf("read credentials: %w", err)
		}
		if _, err := s.keys.Open(sealed, aad(id)); err != nil {
			return fmt.Errorf("credentials of cluster %q: %w", name, err)
		}
	}
	return rows.Err()
}

// RotateKeys re-seals, under the newest key, the credentials sealed under older keys,
// batch rows per transaction, and returns how many it re-sealed. Each batch commits on
// its own, so an interrupted rotation resumes where it stopped.
func (s *Store) RotateKeys(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	total := 0
	for {
		n, err := s.rotateBatch(ctx, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("rotate keys: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}

// rotateBatch re-seals up to batch rows in one transaction.
func (s *Store) rotateBatch(ctx context.Context, batch int) (int, error) {
	primary := int64(s.keys.Primary())
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, kubeconfig FROM clusters WHERE key_id <> $1 AND deleted_at IS NULL ORDER BY id LIMIT $2 FOR UPDATE`, primary, batch)
		if err != nil {
			return fmt.Errorf("take credentials to re-seal: %w", err)
		}
		type row struct {
			id     int64
			sealed []byte
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.sealed)
		})
		if err != nil {
			return fmt.Errorf("take credentials to re-seal: %w", err)
		}
		for _, r := range found {
			plain, err := s.keys.Open(r.sealed, aad(r.id))
			if err != nil {
				return fmt.Errorf("cluster %d: %w", r.id, err)
			}
			resealed, err := s.keys.Seal(plain, aad(r.id))
			if err != nil {
				return fmt.Errorf("re-seal cluster %d: %w", r.id, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE clusters SET kubeconfig = $2, key_id = $3 WHERE id = $1`, r.id, resealed, primary); err != nil {
				return fmt.Errorf("store cluster %d re-sealed: %w", r.id, err)
			}
		}
		n = len(found)
		return nil
	})
	return n, err
}
