// Package storetest opens a store on a fresh, migrated database of a test's own, on
// the test server of package pgtest (skipped without one, failed under CI=true).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
	"github.com/tagdrift/tagdrift/store/pgtest"
)

// New migrates a new database named after prefix and opens a store on it with a fresh
// random key; both go when the test ends.
func New(tb testing.TB, prefix string) (*store.Store, *pgtest.Database) {
	tb.Helper()
	db := pgtest.New(tb, prefix)
	m, err := store.NewMigrator(db.URL)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		tb.Fatal(err)
	}
	key := make([]byte, keyring.KeySize)
	rand.Read(key)
	ring, err := keyring.Parse(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(context.Background(), db.URL, ring)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st, db
}
