// Package storetest opens a store on a fresh, migrated database of a test's own, on
// the test server of package pgtest (skipped without one, failed under CI=true).
//
// A package whose TestMain runs Main migrates one template database for all its tests,
// and New clones it; without Main, New migrates a new database for every test.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// template is the migrated database of the test package, set by Main before any test
// runs and only read after.
var template *pgtest.Template

// Main runs the test package's tests with a migrated template database, which New
// clones: os.Exit(storetest.Main(m)) in TestMain.
func Main(m *testing.M) int {
	return pgtest.Main(m, "tagdrift_template", Migrate, func(t *pgtest.Template) { template = t })
}

// Migrate migrates the database at url to the newest schema and closes its connections.
func Migrate(url string) error {
	m, err := store.NewMigrator(url)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Up()
}

// New gives the test a migrated database named after prefix (a clone of the package's
// template under Main) and opens a store on it with a fresh random key; both go when
// the test ends.
func New(tb testing.TB, prefix string) (*store.Store, *pgtest.Database) {
	tb.Helper()
	var db *pgtest.Database
	if template != nil {
		db = template.Clone(tb, prefix)
	} else {
		db = pgtest.New(tb, prefix)
		if err := Migrate(db.URL); err != nil {
			tb.Fatal(err)
		}
	}
	key := make([]byte, keyring.KeySize)
	rand.Read(key)
	ring, err := keyring.Parse(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(context.Background(), db.URL, ring, apibody.Encoder{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st, db
}
