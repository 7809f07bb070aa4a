package apibody_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func pod(name, uid, container, imageID string) inventory.Pod {
	ref := imageref.ParseRef("nginx:1.25")
	c := inventory.Container{Name: container, Type: inventory.Regular, Ref: &ref}
	if id, ok := imageref.ParseImageID(imageID); ok {
		c.ID = &id
	}
	return inventory.Pod{Cluster: "prod", Namespace: "shop", Name: name, UID: types.UID(uid),
		Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
		Containers: []inventory.Container{c}}
}

func digest(letter string) string {
	return "docker.io/library/nginx@sha256:" + strings.Repeat(letter, 64)
}

// TestPlacesJSON: a list read with RawPlaces gives each mutation's places encoded as
// the API encodes the decoded ones (no HTML escaping), for places written by a scan and for places
// migration 20 filled in from the jsonb of rows written before it, names holding
// markup, quotes and non-ASCII included.
func TestPlacesJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := storetest.New(t, "tagdrift_apibody")
	c, err := s.CreateCluster(ctx, store.NewCluster{Name: "prod", Server: "https://prod.example:6443", Context: "prod",
		Credentials: []byte(`{"token":"t"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	id, err := s.StartScan(ctx, c.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	a, b := pod(`web-"><script>&é\`, "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("b"))
	a.Namespace, b.Namespace = "shop-ü", "shop-ü"
	if _, err := s.CompleteScan(ctx, id, []inventory.Pod{a, b}, 2, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Both lists, the API's (raw) and the pages' (decoded), and the API's encoding of each.
	check := func(step string) {
		t.Helper()
		decoded, err := s.ListMutations(ctx, store.MutationFilter{State: store.StateAll})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.ListMutations(ctx, store.MutationFilter{State: store.StateAll, RawPlaces: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 1 || len(decoded) != 1 || len(decoded[0].Places) != 2 || raw[0].Places != nil || decoded[0].PlacesJSON != nil {
			t.Fatalf("%s: raw %+v, decoded %+v", step, raw, decoded)
		}
		want, err := apibody.Marshal(decoded[0].Places)
		if err != nil {
			t.Fatal(err)
		}
		// As the API writes it out: compacted, escapes kept.
		var got bytes.Buffer
		if err := json.Compact(&got, raw[0].PlacesJSON); err != nil {
			t.Fatalf("%s: places_json %q: %v", step, raw[0].PlacesJSON, err)
		}
		if got.String() != string(want) || !strings.Contains(got.String(), `<script>&`) {
			t.Errorf("%s: places encode as\n%s\nwant\n%s", step, got.String(), want)
		}
		var back []any
		if err := json.Unmarshal(raw[0].PlacesJSON, &back); err != nil || len(back) != 2 {
			t.Errorf("%s: places_json %q", step, raw[0].PlacesJSON)
		}
		if !reflect.DeepEqual(raw[0].Digests, decoded[0].Digests) || raw[0].ID != decoded[0].ID {
			t.Errorf("%s: the raw read differs beyond its places", step)
		}
	}
	check("a scan")

	m, err := store.NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for {
		v, _, err := m.Version()
		if err != nil {
			t.Fatal(err)
		}
		if v < 20 {
			break
		}
		if err := m.Down(1); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	var text string
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT places_json FROM mutations`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text[0] != '[' || len(text) < 100 {
		t.Fatalf("places_json after migration 20: %q", text)
	}
	check("migration 20 filled it in")
}
