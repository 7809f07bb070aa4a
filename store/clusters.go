package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Cluster is a registered cluster, without its credentials.
type Cluster struct {
	ID           int64
	Name         string
	Server       string
	Context      string
	ScanInterval time.Duration
	Annotate     string
	Enabled      bool
	CreatedAt    time.Time
}

// NewCluster is a cluster to register. Credentials are sealed before they are stored
// (the vetted, reduced kubeconfig, as the caller encodes it).
type NewCluster struct {
	Name         string
	Server       string
	Context      string
	Credentials  []byte
	ScanInterval time.Duration // default 5m
	Annotate     string        // "off" (default) or "on"
	Enabled      bool
}

const clusterColumns = `id, name, server, context, scan_interval, annotate, enabled, created_at`

func scanCluster(row pgx.Row) (Cluster, error) {
	var c Cluster
	err := row.Scan(&c.ID, &c.Name, &c.Server, &c.Context, &c.ScanInterval, &c.Annotate, &c.Enabled, &c.CreatedAt)
	return c, err
}

// aad binds a cluster's sealed credentials to its row.
func aad(id int64) []byte { return []byte("cluster:" + strconv.FormatInt(id, 10)) }

// CreateCluster registers a cluster; ErrConflict when a live cluster has the name.
func (s *Store) CreateCluster(ctx context.Context, nc NewCluster) (Cluster, error) {
	var c Cluster
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = s.createCluster(ctx, tx, nc)
		return err
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("create cluster: %w", err)
	}
	return c, nil
}

// createCluster inserts a cluster inside tx, defaults filled.
func (s *Store) createCluster(ctx context.Context, tx pgx.Tx, nc NewCluster) (Cluster, error) {
	if nc.ScanInterval == 0 {
		nc.ScanInterval = 5 * time.Minute
	}
	if nc.Annotate == "" {
		nc.Annotate = "off"
	}
	var id int64
	if err := tx.QueryRow(ctx, `SELECT nextval('clusters_id_seq')`).Scan(&id); err != nil {
		return Cluster{}, fmt.Errorf("cluster id: %w", err)
	}
	sealed, err := s.keys.Seal(nc.Credentials, aad(id))
	if err != nil {
		return Cluster{}, fmt.Errorf("seal credentials: %w", err)
	}
	c, err := scanCluster(tx.QueryRow(ctx, `
		INSERT INTO clusters (id, name, server, context, kubeconfig, key_id, scan_interval, annotate, enabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING `+clusterColumns,
		id, nc.Name, nc.Server, nc.Context, sealed, int64(s.keys.Primary()), nc.ScanInterval, nc.Annotate, nc.Enabled))
	// The name is unique among live clusters only (clusters_name_live).
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Cluster{}, fmt.Errorf("cluster %q: %w", nc.Name, ErrConflict)
	}
	return c, err
}

// ClusterByName returns the live cluster of that name.
func (s *Store) ClusterByName(ctx context.Context, name string) (Cluster, error) {
	c, err := scanCluster(s.pool.QueryRow(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE name = $1 AND deleted_at IS NULL`, name))
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster %q: %w", name, notFound(err))
	}
	return c, nil
}

// Clusters returns every live cluster, by name.
func (s *Store) Clusters(ctx context.Context) ([]Cluster, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE deleted_at IS NULL ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Cluster, error) { return scanCluster(r) })
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return out, nil
}

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
			return err
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
			return err
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
			return err
		}
		for _, r := range found {
			plain, err := s.keys.Open(r.sealed, aad(r.id))
			if err != nil {
				return fmt.Errorf("cluster %d: %w", r.id, err)
			}
			resealed, err := s.keys.Seal(plain, aad(r.id))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE clusters SET kubeconfig = $2, key_id = $3 WHERE id = $1`, r.id, resealed, primary); err != nil {
				return err
			}
		}
		n = len(found)
		return nil
	})
	return n, err
}

// ClusterByID returns the live cluster with that id; ErrNotFound for a deleted one, so
// that its scan jobs end.
func (s *Store) ClusterByID(ctx context.Context, id int64) (Cluster, error) {
	c, err := scanCluster(s.pool.QueryRow(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE id = $1 AND deleted_at IS NULL`, id))
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster %d: %w", id, notFound(err))
	}
	return c, nil
}

// Due is an enabled cluster's place in the scan schedule.
type Due struct {
	ClusterID int64
	Interval  time.Duration
	// LastStarted is when its latest scan started, whatever its status; nil when it was
	// never scanned.
	LastStarted *time.Time
}

// ScanSchedule returns every enabled live cluster with its interval and latest scan start.
func (s *Store) ScanSchedule(ctx context.Context) ([]Due, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.scan_interval, (SELECT max(started_at) FROM scans WHERE cluster_id = c.id)
		FROM clusters c WHERE c.enabled AND c.deleted_at IS NULL ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("scan schedule: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Due, error) {
		var d Due
		return d, r.Scan(&d.ClusterID, &d.Interval, &d.LastStarted)
	})
	if err != nil {
		return nil, fmt.Errorf("scan schedule: %w", err)
	}
	return out, nil
}
