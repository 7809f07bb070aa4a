// Package pgtest gives tests a real PostgreSQL database of their own: it creates a fresh,
// empty database on the server named by TAGDRIFT_TEST_DATABASE_URL and drops it
// afterwards. Without that variable, where a Docker engine runs, the server is a
// PostgreSQL container started with testcontainers-go (once per test process). Without
// either, tests skip, except under CI=true, where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test server's URL.
const EnvURL = "TAGDRIFT_TEST_DATABASE_URL"

// Database is a database created for a test run.
type Database struct {
	// URL connects to the new database.
	URL   string
	admin string
	name  string
}

// ErrNoServer means no test server is configured.
var ErrNoServer = fmt.Errorf("%s is not set and no Docker engine answers: run `make test`, which starts PostgreSQL and sets it", EnvURL)

// Create makes a new, empty database named after prefix on the test server.
func Create(ctx context.Context, prefix string) (*Database, error) {
	admin, err := serverURL(ctx, os.Getenv(EnvURL))
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("%s_%s", prefix, hex.EncodeToString(b))
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create test database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return &Database{URL: u.String(), admin: admin, name: name}, nil
}

// Drop removes the database, ending its connections.
func (db *Database) Drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.name}.Sanitize()+" WITH (FORCE)")
	return err
}

// Required reports whether a missing server must fail the run rather than skip it.
func Required() bool { return os.Getenv("CI") == "true" }

// New creates a database for a test and drops it when the test ends. Without a test
// server it skips the test, or fails it under CI=true.
func New(tb testing.TB, prefix string) *Database {
	tb.Helper()
	ctx := context.Background()
	db, err := Create(ctx, prefix)
	if err != nil {
		if errors.Is(err, ErrNoServer) && !Required() {
			tb.Skip(err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Drop(ctx) })
	return db
}
