// Package pgtest gives tests a real PostgreSQL database of their own: it creates a fresh,
// empty database on the server named by TAGDRIFT_TEST_DATABASE_URL and drops it
// afterwards. Without that variable, where a Docker engine runs, the server is a
// PostgreSQL container started with testcontainers-go (once per test process). Without
// either, tests skip, except under CI=true, where they fail.
//
// A test package whose tests all want the same prepared (migrated) database makes a
// Template once, in TestMain, and each test clones it: CREATE DATABASE … TEMPLATE copies
// files, far faster than running every migration again.
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
	return create(ctx, admin, prefix, "")
}

// create makes a database named after prefix on the server at admin, a copy of
// template when one is named.
func create(ctx context.Context, admin, prefix, template string) (*Database, error) {
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("%s_%s", prefix, hex.EncodeToString(b))
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return nil, fmt.Errorf("create test database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return &Database{URL: u.String(), admin: admin, name: name}, nil
}

// Template is a database prepared once, for a test package, that tests clone.
type Template struct {
	db *Database
}

// NewTemplate creates a database named after prefix and runs prepare on its URL (to
// migrate it). prepare must close every connection it opens: PostgreSQL copies only a
// database nobody is connected to.
func NewTemplate(ctx context.Context, prefix string, prepare func(url string) error) (*Template, error) {
	db, err := Create(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if err := prepare(db.URL); err != nil {
		return nil, errors.Join(fmt.Errorf("prepare template database: %w", err), db.Drop(ctx))
	}
	return &Template{db: db}, nil
}

// Clone makes a copy of the template for one test, dropped when the test ends.
func (t *Template) Clone(tb testing.TB, prefix string) *Database {
	tb.Helper()
	if t == nil {
		// Main makes none without a server: skip as New does, or fail under CI.
		if !Required() {
			tb.Skip(ErrNoServer)
		}
		tb.Fatal("pgtest: no template database: make one in TestMain with pgtest.Main")
	}
	ctx := context.Background()
	// The server the template is on, not the environment's: a test may have changed that.
	db, err := create(ctx, t.db.admin, prefix, t.db.name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Drop(ctx) })
	return db
}

// Drop removes the template.
func (t *Template) Drop(ctx context.Context) error { return t.db.Drop(ctx) }

// Main runs a test package's tests with a template made by NewTemplate, given to
// setTemplate before the tests start and dropped after. Without a test server the tests
// run without one (they skip), except under CI=true, where the run fails.
func Main(m *testing.M, prefix string, prepare func(url string) error, setTemplate func(*Template)) int {
	ctx := context.Background()
	tpl, err := NewTemplate(ctx, prefix, prepare)
	switch {
	case errors.Is(err, ErrNoServer) && !Required():
		return m.Run()
	case err != nil:
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer tpl.Drop(ctx)
	setTemplate(tpl)
	return m.Run()
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
