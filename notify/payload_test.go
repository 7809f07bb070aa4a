package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestC = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

var (
	at  = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	web = inventory.Workload{Kind: "Deployment", Name: "web"}
)

// divergence is a workload-divergence of web in prod with one pod on digestA and pods
// more on digestB.
func divergence(podsOnB int) Mutation {
	m := Mutation{ID: 42, DetectedAt: at.Add(-time.Hour), Mutation: detect.Mutation{
		Kind: detect.WorkloadDivergence, Cluster: "prod", Namespace: "shop", Workload: web, Container: "app",
		Ref: "docker.io/library/nginx:1.25", Digests: []string{digestA, digestB},
	}}
	m.Places = append(m.Places, detect.Place{Cluster: "prod", Namespace: "shop", Workload: web, Pod: "web-a", Container: "app", Digest: digestA})
	for i := range podsOnB {
		m.Places = append(m.Places, detect.Place{Cluster: "prod", Namespace: "shop", Workload: web, Pod: fmt.Sprintf("web-b%d", i), Container: "app", Digest: digestB})
	}
	return m
}

func TestPayloadDivergence(t *testing.T) {
	p := NewPayload(Event{ID: "evt_1", Type: MutationOpened, At: at, Mutation: divergence(7)},
		PayloadConfig{BaseURL: "https://tagdrift.example.com/", MaxPlaces: 3})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	// The documented shape, key for key.
	want := `{"id":"evt_1","type":"mutation.opened","timestamp":"2026-12-05T12:00:00Z",` +
		`"mutation":{"id":42,"kind":"workload-divergence","cluster":"prod","namespace":"shop",` +
		`"workload":{"kind":"Deployment","name":"web"},"container":"app","ref":"docker.io/library/nginx:1.25",` +
		`"digests":["` + digestA + `","` + digestB + `"],"detectedAt":"2026-12-05T11:00:00Z","resolvedAt":null,"state":"open"},` +
		`"digests":[{"digest":"` + digestA + `","places":[{"cluster":"prod","namespace":"shop","workload":{"kind":"Deployment","name":"web"},"pod":"web-a","container":"app"}],"morePlaces":0},` +
		`{"digest":"` + digestB + `","places":[` +
		`{"cluster":"prod","namespace":"shop","workload":{"kind":"Deployment","name":"web"},"pod":"web-b0","container":"app"},` +
		`{"cluster":"prod","namespace":"shop","workload":{"kind":"Deployment","name":"web"},"pod":"web-b1","container":"app"},` +
		`{"cluster":"prod","namespace":"shop","workload":{"kind":"Deployment","name":"web"},"pod":"web-b2","container":"app"}],"morePlaces":4}],` +
		`"links":{"ui":"https://tagdrift.example.com/workloads/prod/shop/Deployment/web","api":"https://tagdrift.example.com/api/v1/mutations/42"}}`
	if string(b) != want {
		t.Errorf("payload\n%s\nwant\n%s", b, want)
	}
	text := Text(p)
	for _, s := range []string{
		"Mutation opened: workload-divergence of docker.io/library/nginx:1.25 in prod/shop/Deployment/web container app",
		digestA + " on prod/shop/web-a (app)\n",
		digestB + " on prod/shop/web-b0 (app), prod/shop/web-b1 (app), prod/shop/web-b2 (app), and 4 more\n",
		"UI: https://tagdrift.example.com/workloads/prod/shop/Deployment/web\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
}

func TestPayloadKinds(t *testing.T) {
	moved := Mutation{ID: 7, DetectedAt: at, ResolvedAt: &at, Mutation: detect.Mutation{
		Kind: detect.TagMoved, Cluster: "prod", Namespace: "shop", Workload: web, Container: "app",
		Ref: "docker.io/library/nginx:1.25", Digests: []string{digestA, digestB},
		Places: []detect.Place{{Cluster: "prod", Namespace: "shop", Workload: web, Pod: "web-1", Container: "app", Digest: digestB}},
	}}
	pin := Mutation{ID: 8, DetectedAt: at, Mutation: detect.Mutation{
		Kind: detect.PinMismatch, Cluster: "prod", Namespace: "shop", Workload: web, Container: "app",
		Ref: "docker.io/library/nginx:1.25@" + digestA, Digests: []string{digestB},
		Places: []detect.Place{{Cluster: "prod", Namespace: "shop", Workload: web, Pod: "web-1", Container: "app", Digest: digestB}},
	}}
	across := Mutation{ID: 9, DetectedAt: at, Mutation: detect.Mutation{
		Kind: detect.TagDivergence, Ref: "docker.io/library/nginx:1.25", Digests: []string{digestA, digestC},
		Places: []detect.Place{
			{Cluster: "prod", Namespace: "shop", Workload: web, Pod: "web-1", Container: "app", Digest: digestA},
			{Cluster: "staging", Namespace: "shop", Workload: web, Pod: "web-2", Container: "app", Digest: digestC},
		},
	}}
	t.Run("tag-moved: from and to", func(t *testing.T) {
		p := NewPayload(Event{ID: "e", Type: EventRecorded, At: at, Mutation: moved}, PayloadConfig{})
		if p.Change == nil || p.Change.From != digestA || p.Change.To != digestB || len(p.Change.Places) != 1 || p.Digests != nil || p.Pin != nil {
			t.Fatalf("change %+v digests %+v pin %+v", p.Change, p.Digests, p.Pin)
		}
		if p.Mutation.ResolvedAt == nil || p.Links.API != "/api/v1/mutations/7" {
			t.Errorf("mutation %+v links %+v", p.Mutation, p.Links)
		}
		if got := DigestLines(p); got[0] != digestA+" → "+digestB || got[1] != "on prod/shop/web-1 (app)" {
			t.Errorf("lines %q", got)
		}
	})
	t.Run("pin-mismatch: the pin and what runs", func(t *testing.T) {
		p := NewPayload(Event{ID: "e", Type: MutationOpened, At: at, Mutation: pin}, PayloadConfig{})
		if p.Pin == nil || p.Pin.Pinned != digestA || len(p.Pin.Running) != 1 || p.Pin.Running[0].Digest != digestB ||
			p.Pin.Running[0].Places[0].Pod != "web-1" || p.Change != nil || p.Digests != nil {
			t.Fatalf("pin %+v change %+v digests %+v", p.Pin, p.Change, p.Digests)
		}
		if got := DigestLines(p); got[0] != "pinned "+digestA || got[1] != "runs "+digestB+" on prod/shop/web-1 (app)" {
			t.Errorf("lines %q", got)
		}
	})
	t.Run("tag-divergence across clusters: UI link to the reference", func(t *testing.T) {
		p := NewPayload(Event{ID: "e", Type: MutationChanged, At: at, PreviousDigests: []string{digestB, digestA}, Mutation: across},
			PayloadConfig{BaseURL: "http://td"})
		if p.Links.UI != "http://td/mutations?ref=docker.io%2Flibrary%2Fnginx%3A1.25&state=all" {
			t.Errorf("ui link %q", p.Links.UI)
		}
		if strings.Join(p.Added, ",") != digestC || strings.Join(p.Removed, ",") != digestB {
			t.Errorf("added %v removed %v", p.Added, p.Removed)
		}
		if len(p.Digests) != 2 || p.Digests[1].Places[0].Cluster != "staging" {
			t.Errorf("digests %+v", p.Digests)
		}
		if got := Title(p); got != "Mutation changed: tag-divergence of docker.io/library/nginx:1.25" {
			t.Errorf("title %q", got)
		}
	})
	t.Run("resolved with its reason", func(t *testing.T) {
		m := divergence(1)
		m.ResolvedAt = &at
		p := NewPayload(Event{ID: "e", Type: MutationResolved, Reason: ReasonClusterDeleted, At: at, Mutation: m}, PayloadConfig{})
		b, _ := json.Marshal(p)
		if !strings.Contains(string(b), `"reason":"cluster-deleted"`) || !strings.HasPrefix(Title(p), "Mutation resolved (cluster-deleted): ") {
			t.Errorf("payload %s title %q", b, Title(p))
		}
	})
}
