package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/report"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// TestDigestLookUpAlgorithms looks up digests of every algorithm imageref parses from
// an imageID (one rule, imageref.ValidDigest): a sha512 image a scan stored is found,
// a sha384 one never seen is an empty answer, and a digest of the wrong length for its
// algorithm is refused.
func TestDigestLookUpAlgorithms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod", store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	f.id["prod"] = c.ID
	sha512 := "sha512:" + strings.Repeat("5", 128)
	p := webPod("prod", "web-a", "u-a", "a")
	id, ok := imageref.ParseImageID("ghcr.io/acme/web@" + sha512)
	if !ok || id.Kind != imageref.KindRepo || id.Digest != sha512 {
		t.Fatalf("imageref parses %+v", id)
	}
	p.Containers[0].ID = &id
	f.scan("prod", time.Now().Add(-time.Minute), p)

	viewer := e.as("viewer")
	var found request.DigestJSON
	res := viewer.get("/api/v1/digests/" + sha512)
	want(t, res, http.StatusOK)
	res.decode(t, &found)
	if len(found.Running) != 1 || found.Running[0].Pod != "web-a" || found.Running[0].Digest != sha512 || len(found.History) != 1 {
		t.Errorf("sha512 digest: %s", res.body)
	}
	res = viewer.get("/api/v1/digests/sha384:" + strings.Repeat("3", 96))
	want(t, res, http.StatusOK)
	res.decode(t, &found)
	if len(found.Running) != 0 || len(found.History) != 0 {
		t.Errorf("sha384 digest never seen: %s", res.body)
	}
	for _, bad := range []string{"sha512:" + strings.Repeat("5", 64), "sha384:" + strings.Repeat("3", 64), "sha1:" + strings.Repeat("1", 40)} {
		want(t, viewer.get("/api/v1/digests/"+bad), http.StatusBadRequest)
	}
}

// TestWorkloadsAnswerIsTheReport: the workloads list the API puts together from the
// containers the store keeps encoded is, byte for byte, what encoding the report of each
// workload's open intervals gives (apibody.ReportOf, request.EncodeJSON), with names and imageIDs
// of markup, in every sort and across pages.
func TestWorkloadsAnswerIsTheReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, f := newFleet(t)
	odd := webPod("staging", "odd-1", "u-odd", "a")
	odd.Workload.Name, odd.Controller.Name, odd.Controller.UID = `odd"<&>`+"\u2028", "odd-1", "rs-odd"
	id, _ := imageref.ParseImageID(hostileImageID)
	odd.Containers[0].ID = &id
	f.scan("staging", time.Now().Add(-time.Minute).UTC(), webPod("staging", "web-s", "u-s", "a"), odd)
	viewer := e.as("viewer")
	parser := imageref.NewParser()
	for _, sort := range store.WorkloadSorts {
		for _, mutant := range []bool{false, true} {
			path := fmt.Sprintf("/api/v1/workloads?sort=%s&mutant=%v&limit=2", sort, mutant)
			var after *store.WorkloadCursor
			for pages := 0; ; pages++ {
				res := viewer.get(path)
				want(t, res, http.StatusOK)
				ws, err := e.st.ListWorkloads(ctx, store.WorkloadFilter{Sort: sort, MutantOnly: mutant, Limit: 3, After: after})
				if err != nil {
					t.Fatal(err)
				}
				var got request.List[json.RawMessage]
				res.decode(t, &got)
				reports := make([]report.Workload, 0, len(ws))
				for _, w := range ws[:min(2, len(ws))] {
					reports = append(reports, apibody.ReportOf(w, parser))
				}
				wantBody, err := request.EncodeJSON(request.List[report.Workload]{Items: reports, NextCursor: got.NextCursor})
				if err != nil {
					t.Fatal(err)
				}
				if string(res.body) != string(wantBody) {
					t.Fatalf("%s:\n%s\nwant\n%s", path, res.body, wantBody)
				}
				if (got.NextCursor != "") != (len(ws) > 2) || pages > 10 {
					t.Fatalf("%s: next cursor %q with %d more", path, got.NextCursor, len(ws))
				}
				if got.NextCursor == "" {
					break
				}
				c := ws[1].Cursor()
				after = &c
				path = fmt.Sprintf("/api/v1/workloads?sort=%s&mutant=%v&limit=2&cursor=%s", sort, mutant, got.NextCursor)
			}
		}
	}
}

// TestMutationAnswersAgree: a mutation listed (its places served as the store keeps
// them encoded) and the same mutation asked for by id (its places decoded and encoded
// again) are the same bytes, places of markup included, unescaped as every answer is.
func TestMutationAnswersAgree(t *testing.T) {
	t.Parallel()
	e, _ := newFleet(t)
	viewer := e.as("viewer")
	res := viewer.get("/api/v1/mutations?state=all&limit=1000")
	want(t, res, http.StatusOK)
	var l request.List[json.RawMessage]
	res.decode(t, &l)
	hostile := 0
	for _, item := range l.Items {
		var m struct{ ID int64 }
		if err := json.Unmarshal(item, &m); err != nil {
			t.Fatal(err)
		}
		one := viewer.get(fmt.Sprintf("/api/v1/mutations/%d", m.ID))
		want(t, one, http.StatusOK)
		if got := strings.TrimSuffix(string(one.body), "\n"); got != string(item) {
			t.Errorf("mutation %d by id:\n%s\nlisted:\n%s", m.ID, got, item)
		}
		if strings.Contains(string(item), hostilePod) {
			hostile++
		}
	}
	if len(l.Items) < 2 || hostile == 0 {
		t.Fatalf("%d mutations, %d with the pod of markup unescaped", len(l.Items), hostile)
	}
}

// TestMutationItem encodes mutations as the list does, places spliced in as stored,
// against request.EncodeJSON of the whole mutation: the same bytes for places as Go encodes
// them and as migration 000020's SQL did (with spaces), in each state, with strings
// that need escaping or look like JSON.
func TestMutationItem(t *testing.T) {
	t.Parallel()
	resolved := time.Date(2026, 11, 3, 4, 5, 6, 7, time.UTC)
	for _, tc := range []struct {
		name   string
		places string
	}{
		{"as Go encodes them", `[{"cluster":"prod","namespace":"shop","workload":{"kind":"Deployment","name":"web"},"pod":"web-1","container":"web","digest":"sha256:aa"}]`},
		{"as migration 000020 did", `[{"cluster" : "prod", "namespace": "a: b, \"c\" <&>` + "\u2028" + `", "workload": {"kind": "Deployment", "name": "web"}}]`},
		{"none", `[]`},
	} {
		for i, at := range []*time.Time{nil, &resolved, nil, nil} {
			// Open, resolved, acknowledged and expected, with why.
			state := []mutationState{
				{State: "open"},
				{State: "resolved"},
				{State: "acknowledged", Acknowledgement: &mutationAckJSON{ID: 7, By: "user:<a>", Reason: `"frozen" & known`, Until: "time", ExpiresAt: &resolved}},
				{State: "expected", Rule: &mutationRuleJSON{ID: 3, Scope: `reference=~"docker.io/library/nginx:.*"`, Reason: "moves"}},
			}[i]
			m := mutationJSON{ID: 42, RawPlaces: json.RawMessage(tc.places), DetectedAt: resolved.Add(-time.Hour), ResolvedAt: at,
				Mutation: detect.Mutation{Kind: detect.TagDivergence, Cluster: `"quoted" <b>`, Ref: "docker.io/library/nginx:1.25",
					Digests: []string{"sha256:aa", "sha256:bb"}, Places: []detect.Place{{Cluster: "hidden"}}}, mutationState: state}
			got, err := mutationItem(m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := request.EncodeJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("%s (%s):\n got %s\nwant %s", tc.name, state.State, got, want)
			}
		}
	}
}
