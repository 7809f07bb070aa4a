package api

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestDeleteClusterWithoutScheduler deletes a cluster through an API that has no
// scheduler (Config.Scans is optional): no panic after the delete committed, a 204, and
// the references it ran stay queued for the recheck a scheduler on the database will do.
func TestDeleteClusterWithoutScheduler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *testConfig) { c.Scans = nil })
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	f.id["prod"] = c.ID
	f.scan("prod", time.Now().Add(-time.Minute), webPod("prod", "web-a", "u-a", "a"))

	want(t, e.as("admin").send("DELETE", "/api/v1/clusters/prod", ""), http.StatusNoContent)
	want(t, e.as("viewer").get("/api/v1/clusters/prod"), http.StatusNotFound)
	queued, err := e.st.QueuedRechecks(context.Background())
	if err != nil || !slices.Equal(queued, []string{"docker.io/library/nginx:1.25"}) {
		t.Errorf("queued after the delete: %v, %v", queued, err)
	}
	// Asking for a scan needs the scheduler: a clear error, not a panic.
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("stage", testKubeconfig("", ""), "")), http.StatusCreated)
	if res := e.as("admin").send("POST", "/api/v1/clusters/stage/scans", ""); res.status != http.StatusInternalServerError {
		t.Errorf("scan without a scheduler: %s", res)
	}
}
