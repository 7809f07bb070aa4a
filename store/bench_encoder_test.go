package store

import (
	"context"
	"testing"
)

// benchBodies is the BodyEncoder the scan benchmarks write with: the API's own
// (server/apibody, set by bench_apibody_test.go's init), so that they measure what
// serve writes; the store's tests cannot import it from package store.
var benchBodies BodyEncoder

// benchStore is a store on a fresh database that encodes bodies as serve does.
func benchStore(b *testing.B) *Store {
	b.Helper()
	if benchBodies == nil {
		b.Fatal("no body encoder for the benchmark: bench_apibody_test.go sets it")
	}
	db := migrated.Clone(b, "tagdrift_store")
	s, err := Open(context.Background(), db.URL, mustRing(b, newKey(b)), benchBodies)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// SetBenchBodies sets the encoder of the scan benchmarks (from package store_test,
// which may import server/apibody).
func SetBenchBodies(e BodyEncoder) { benchBodies = e }
