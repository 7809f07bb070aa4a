package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// testBodies is a BodyEncoder of the store's tests, which cannot import the API's
// (server/apibody imports the store): each body names the version that wrote it, so a
// test sees which shape it was served.
type testBodies struct{ version int }

func (e testBodies) BodyVersion() int { return e.version }

func (e testBodies) Containers(ws []Workload) ([][]byte, error) {
	out := make([][]byte, len(ws))
	for i, w := range ws {
		b, err := json.Marshal(map[string]any{"v": e.version, "running": w.Running})
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (e testBodies) Places(places []detect.Place) ([]byte, error) {
	return json.Marshal(map[string]any{"v": e.version, "places": places})
}

// mustContainers is w's containers body as enc encodes it.
func mustContainers(t testing.TB, enc BodyEncoder, w Workload) string {
	t.Helper()
	b, err := enc.Containers([]Workload{w})
	if err != nil {
		t.Fatal(err)
	}
	return string(b[0])
}

// TestBodyVersions: two stores of two body versions on one database, as two `serve`
// versions side by side during a rolling update, each serve only bodies of their own
// shape, whichever wrote the rows, and RefillBodies rewrites the others, in batches,
// once.
func TestBodyVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old, db := mustStore(t, mustRing(t, newKey(t)))
	fresh, err := Open(ctx, db.URL, old.keys, testBodies{2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	for i, c := range []string{"prod", "staging"} {
		cl := mustCluster(t, old, c, "t")
		at := time.Date(2026, 12, 2, 10, i, 0, 0, time.UTC)
		// Two pods of one workload on two digests: a workload-divergence, with places.
		fleet{t, old}.scan(cl, at, wpod("shop", "web", "web-1", "u1"+c, nginx("a")), wpod("shop", "web", "web-2", "u2"+c, nginx("b")),
			wpod("shop", "api", "api-1", "u3"+c, "api=api:1|"+digest("c")))
	}
	// Each store serves its own shape, from the rows or rendered.
	check := func(step string) {
		t.Helper()
		for _, s := range []*Store{old, fresh} {
			v := s.bodies.enc.BodyVersion()
			ws, err := s.ListWorkloads(ctx, WorkloadFilter{})
			if err != nil {
				t.Fatal(err)
			}
			bodies, err := s.ListWorkloadBodies(ctx, WorkloadFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != 4 || len(bodies) != len(ws) {
				t.Fatalf("%s, version %d: %d workloads, %d bodies", step, v, len(ws), len(bodies))
			}
			for i, w := range ws {
				if got, want := string(bodies[i].Containers), mustContainers(t, s.bodies.enc, w); got != want {
					t.Errorf("%s, version %d: %s/%s serves\n%s\nwant\n%s", step, v, w.Cluster, w.Name, got, want)
				}
			}
			ms, err := s.ListMutations(ctx, MutationFilter{State: StateAll, RawPlaces: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 2 {
				t.Fatalf("%s: %d mutations", step, len(ms))
			}
			for _, m := range ms {
				if !strings.HasPrefix(string(m.PlacesJSON), `{"places":[{`) || !strings.HasSuffix(string(m.PlacesJSON), fmt.Sprintf(`"v":%d}`, v)) {
					t.Errorf("%s, version %d: mutation %d serves places %s", step, v, m.ID, m.PlacesJSON)
				}
			}
		}
	}
	check("rows of version 1")
	versions := func() (workloads, mutations string) {
		t.Helper()
		if err := old.pool.QueryRow(ctx, `SELECT (SELECT string_agg(DISTINCT body_version::text, ',') FROM running_workloads),
			(SELECT string_agg(DISTINCT body_version::text, ',') FROM mutations)`).Scan(&workloads, &mutations); err != nil {
			t.Fatal(err)
		}
		return workloads, mutations
	}
	// Batches of 3 over 4 workloads and 2 mutations: a full batch and a partial one.
	r, err := fresh.RefillBodies(ctx, 3, nil)
	if err != nil || r != (Refilled{Workloads: 4, Mutations: 2}) {
		t.Fatalf("refilled %+v: %v", r, err)
	}
	if w, m := versions(); w != "2" || m != "2" {
		t.Fatalf("after the refill, versions %s and %s", w, m)
	}
	check("rows of version 2")
	if r, err := fresh.RefillBodies(ctx, 1, nil); err != nil || r != (Refilled{}) {
		t.Fatalf("refilled %+v again: %v", r, err)
	}
	// Rows without any version (as a store without an encoder writes them) and bodies
	// never rendered (as migration 000021 left them) are refilled too.
	if _, err := old.pool.Exec(ctx, `UPDATE running_workloads SET containers = NULL, body_version = NULL WHERE name = 'web'`); err != nil {
		t.Fatal(err)
	}
	if _, err := old.pool.Exec(ctx, `UPDATE mutations SET body_version = NULL`); err != nil {
		t.Fatal(err)
	}
	check("rows of no version")
	if r, err := old.RefillBodies(ctx, 1, nil); err != nil || r != (Refilled{Workloads: 4, Mutations: 2}) {
		t.Fatalf("refilled %+v back to version 1: %v", r, err)
	}
	if w, m := versions(); w != "1" || m != "1" {
		t.Fatalf("after the refill back, versions %s and %s", w, m)
	}
	check("rows of version 1 again")

	// A row a scan holds is skipped, not waited for, and the walk goes on past it.
	tx, err := old.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM running_workloads ORDER BY cluster_id, namespace, kind, name LIMIT 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	if r, err := fresh.RefillBodies(ctx, 1, nil); err != nil || r != (Refilled{Workloads: 3, Mutations: 2}) {
		t.Fatalf("refilled %+v with the first row locked: %v", r, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := fresh.RefillBodies(ctx, 1, nil); err != nil || r != (Refilled{Workloads: 1}) {
		t.Fatalf("refilled %+v once the row was free: %v", r, err)
	}
	if w, m := versions(); w != "2" || m != "2" {
		t.Fatalf("after the last refill, versions %s and %s", w, m)
	}
}
