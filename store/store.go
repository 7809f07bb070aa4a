// Package store keeps tagdrift's state in PostgreSQL: clusters and their sealed
// credentials, scans, and the digest history as observation intervals. It knows SQL and
// nothing of HTTP.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tagdrift/tagdrift/store/keyring"
)

var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the record collides with an existing one (a name taken).
	ErrConflict = errors.New("conflict")
)

// Store is the database.
type Store struct {
	pool   *pgxpool.Pool
	keys   *keyring.Ring
	bodies bodies
	// outbox writes notifications beside the changes of mutations (SetOutbox).
	outbox Outbox
	// behind is the last judgement of the workloads behind their tags (behind.go).
	behind behindCache
}

// Open connects to the database at url. keys seals and opens cluster credentials; enc
// renders the bodies the store keeps for the API (nil for a command that serves none:
// see BodyEncoder).
func Open(ctx context.Context, url string, keys *keyring.Ring, enc BodyEncoder) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	// pgxpool's default (4, or the number of CPUs) is too few for the job engine, which
	// holds one connection to listen and more for its producers, beside the scans and
	// the API. pool_max_conns in the URL still decides when given.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{pool: pool, keys: keys, bodies: bodies{enc}}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool returns the connection pool, for the job engine that shares the database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// tx runs fn in a transaction, committed when fn returns nil and rolled back when it
// returns an error or panics.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback(ctx)
			panic(p)
		}
		if err != nil {
			tx.Rollback(ctx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// notFound turns pgx.ErrNoRows into ErrNotFound, at the one boundary where it is seen.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// What the API's cached reads are made from moves two kinds of versions. The data
// version (table data_version) moves, in the transaction of the change, on every real
// change: intervals opened or closed, events recorded, mutations opened, updated or
// resolved, clusters added, edited or deleted, rows removed by retention. A scan that
// changed none of these moves only its cluster's sighting: the last sighting of what
// the cluster runs, read at query time from its latest succeeded scan, whose id is the
// cluster's sighting version. So a steady scan of one cluster leaves every answer that
// shows no sighting of that cluster as true as it was.

// bumpDataVersion records, inside the transaction that makes it, a change to what the
// API's cached reads are made from. Run it last in the transaction: it locks the one
// counter row until commit.
func bumpDataVersion(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `UPDATE data_version SET version = version + 1`); err != nil {
		return fmt.Errorf("bump data version: %w", err)
	}
	return nil
}

// bumpRunsVersion is bumpDataVersion for a change of what a cluster runs (intervals
// opened or closed): the cluster keeps the new version as its runs version, so that
// behind the tag is judged again for the clusters whose runs moved only. The cluster's
// row is locked before the counter, in the order every transaction that edits a
// cluster takes them.
func bumpRunsVersion(ctx context.Context, tx pgx.Tx, clusterID int64) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM clusters WHERE id = $1 FOR NO KEY UPDATE`, clusterID); err != nil {
		return fmt.Errorf("bump data version: %w", err)
	}
	var v int64
	if err := tx.QueryRow(ctx, `UPDATE data_version SET version = version + 1 RETURNING version`).Scan(&v); err != nil {
		return fmt.Errorf("bump data version: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE clusters SET runs_version = $2 WHERE id = $1`, clusterID, v); err != nil {
		return fmt.Errorf("bump data version: %w", err)
	}
	return nil
}

// dataVersion reads the data version.
func (s *Store) dataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("data version: %w", err)
	}
	return v, nil
}

// Sightings names the clusters whose last sighting (their latest succeeded scan) an
// answer shows, each with the id of the scan it was read from (0: none yet). Reads
// return it from the statement that read the sightings, so that it is exactly what
// the answer shows.
type Sightings map[int64]int64

// add records that an answer showed cluster's sighting from scan (0 for none).
func (s Sightings) add(cluster, scan int64) { s[cluster] = scan }

// Versions returns, in one query, the data version and the sighting version of each of
// clusters, in their order (0 for a cluster with no succeeded scan, or gone). An answer
// made after reading data version v, whose reads saw sightings m, stays true while the
// data version reads v and each cluster of m still has the sighting version m names.
func (s *Store) Versions(ctx context.Context, clusters []int64) (int64, []int64, error) {
	var v int64
	var scans []int64
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT version FROM data_version),
		       ARRAY(SELECT COALESCE((SELECT sc.id FROM scans sc WHERE sc.cluster_id = u.c AND sc.status = 'succeeded'
		                              ORDER BY sc.id DESC LIMIT 1), 0)
		             FROM unnest($1::bigint[]) WITH ORDINALITY AS u (c, n) ORDER BY u.n)`, clusters).Scan(&v, &scans)
	if err != nil {
		return 0, nil, fmt.Errorf("data and sighting versions: %w", err)
	}
	return v, scans, nil
}
