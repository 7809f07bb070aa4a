package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/migrations"
)

// ErrDirty means a migration failed halfway: an operator must look before anything runs.
var ErrDirty = errors.New("database schema is dirty: a migration failed halfway; fix it, then force the version with golang-migrate")

// Migrator applies the embedded migrations.
type Migrator struct {
	m *migrate.Migrate
}

// NewMigrator prepares migrations against the database at databaseURL (postgres://…).
func NewMigrator(databaseURL string) (*Migrator, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	u.Scheme = "pgx5"
	m, err := migrate.NewWithSourceInstance("iofs", src, u.String())
	if err != nil {
		return nil, fmt.Errorf("open database for migrations: %w", err)
	}
	return &Migrator{m: m}, nil
}

// Close releases the migrator's connection.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	return errors.Join(srcErr, dbErr)
}

// Version returns the schema version (0 when none) and whether it is dirty.
func (m *Migrator) Version() (uint, bool, error) {
	v, dirty, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, dirty, err
}

// Up applies every pending migration. It refuses a dirty schema.
func (m *Migrator) Up() error {
	// golang-migrate refuses a dirty schema itself, under its advisory lock; a check
	// before taking the lock would see another replica's migration in flight as dirty.
	if err := dirty(m.m.Up()); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// dirty turns golang-migrate's refusal of a dirty schema into ErrDirty.
func dirty(err error) error {
	var de migrate.ErrDirty
	if errors.As(err, &de) {
		return ErrDirty
	}
	return err
}

// Down undoes the last n migrations.
func (m *Migrator) Down(n int) error {
	if n <= 0 {
		return fmt.Errorf("migrate down: n must be positive, not %d", n)
	}
	if err := dirty(m.m.Steps(-n)); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate down %d: %w", n, err)
	}
	return nil
}

// Current reports whether the schema is at the newest embedded version and clean.
func (m *Migrator) Current() (bool, error) {
	v, dirty, err := m.Version()
	if err != nil {
		return false, err
	}
	latest, err := Latest()
	if err != nil {
		return false, err
	}
	return !dirty && v == latest, nil
}

// Latest is the newest embedded migration's version.
func Latest() (uint, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return 0, err
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, err
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, err
		}
		v = next
	}
}

// SchemaCurrent checks, with one query on the pool under ctx, that the schema is at the
// newest embedded version and clean: what readiness needs, without a migrator (which
// opens connections of its own and waits for the migration lock without a deadline).
func (s *Store) SchemaCurrent(ctx context.Context) error {
	latest, err := Latest()
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	var version int64
	var isDirty bool
	err = s.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&version, &isDirty)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return errors.New("database schema is not migrated")
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	case isDirty:
		return ErrDirty
	case version != int64(latest):
		return fmt.Errorf("database schema is at version %d, not %d: run tagdrift migrate up", version, latest)
	}
	return nil
}
