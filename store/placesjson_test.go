package store

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestPlacesJSON: a list read with RawPlaces gives each mutation's places encoded as
// the API encodes the decoded ones (no HTML escaping), for places written by a scan and for places
// migration 20 filled in from the jsonb of rows written before it, names holding
// markup, quotes and non-ASCII included.
func TestPlacesJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
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
		decoded, err := s.ListMutations(ctx, MutationFilter{State: StateAll})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.ListMutations(ctx, MutationFilter{State: StateAll, RawPlaces: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 1 || len(decoded) != 1 || len(decoded[0].Places) != 2 || raw[0].Places != nil || decoded[0].PlacesJSON != nil {
			t.Fatalf("%s: raw %+v, decoded %+v", step, raw, decoded)
		}
		want, err := marshalAsAPI(decoded[0].Places)
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

	m, err := NewMigrator(db.URL)
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
	if err := s.pool.QueryRow(ctx, `SELECT places_json FROM mutations`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text[0] != '[' || len(text) < 100 {
		t.Fatalf("places_json after migration 20: %q", text)
	}
	check("migration 20 filled it in")
}
