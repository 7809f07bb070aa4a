package server

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestCachedReadsFollowTheData reads workloads, a timeline and a digest, changes the
// rows behind the store's back (the cached answers stay: they are served, not
// recomputed), then lets a scan and a mutation move the data version: every answer is
// made afresh and shows the change.
func TestCachedReadsFollowTheData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	viewer := e.as("viewer")
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	f.id["prod"] = c.ID
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "a"))

	paths := []string{"/api/v1/workloads?mutant=false", "/api/v1/images/timeline?ref=nginx:1.25", "/api/v1/digests/" + digestOf("a")}
	read := func() []string {
		t.Helper()
		var out []string
		for _, p := range paths {
			res := viewer.get(p)
			want(t, res, http.StatusOK)
			out = append(out, string(res.body))
		}
		return out
	}
	first := read()

	// Behind the store's back: the pods' namespace changes without a version bump.
	if _, err := e.st.Pool().Exec(context.Background(), `UPDATE observations SET namespace = 'elsewhere'`); err != nil {
		t.Fatal(err)
	}
	for i, body := range read() {
		if body != first[i] {
			t.Errorf("%s was made afresh while the data version held:\n%s\n%s", paths[i], first[i], body)
		}
	}

	// A scan where web-b pulled digest b moves the version: every answer changes.
	f.scan("prod", t0.Add(time.Minute), webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b2", "u-b2", "b"))
	for i, body := range read() {
		if body == first[i] {
			t.Errorf("%s still answers from before the scan:\n%s", paths[i], body)
		}
	}
}
