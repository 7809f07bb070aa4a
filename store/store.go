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
	pool *pgxpool.Pool
	keys *keyring.Ring
}

// Open connects to the database at url. keys seals and opens cluster credentials.
func Open(ctx context.Context, url string, keys *keyring.Ring) (*Store, error) {
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
	return &Store{pool: pool, keys: keys}, nil
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

// bumpDataVersion records, inside the transaction that makes it, a change to what the
// API's cached reads are made from. Run it last in the transaction: it locks the one
// counter row until commit.
func bumpDataVersion(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `UPDATE data_version SET version = version + 1`); err != nil {
		return fmt.Errorf("bump data version: %w", err)
	}
	return nil
}

// DataVersion returns the counter of changes to observations, succeeded scans, mutations
// and deleted clusters. A response made after reading version v stays true while the
// counter reads v.
func (s *Store) DataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("data version: %w", err)
	}
	return v, nil
}
