package store_test

import (
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
)

// The scan benchmarks encode the stored bodies with the API's encoder, as serve does
// (store.Open's BodyEncoder), not the store tests' stand-in.
func init() { store.SetBenchBodies(apibody.Encoder{}) }
