package api

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

// TestDeleteClusterWithoutScheduler deletes a cluster through an API that has no
// scheduler (Config.Scans is optional): no panic after the delete committed, a 204, and
// the references it ran stay queued for the recheck a scheduler on the database will do.
func TestDeleteClusterWithoutScheduler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *testConfig) { c.Scans = nil })
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	c, err := e.st.ClusterStatusByName(context.Background(), "prod", store.Scope{})
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

// TestClusterScanMode switches a cluster to scan mode watch and back: the API shows
// the mode, and how the watch stands (polling, with the reason, until a replica holds
// its lease; then what its holder reported); a mode other than poll and watch is a 400.
func TestClusterScanMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("admin")
	call := func(t *testing.T, res response, status int, out any) {
		t.Helper()
		want(t, res, status)
		res.decode(t, out)
	}
	want(t, admin.send("POST", "/api/v1/clusters", `{"name":"prod","kubeconfig":`+jsonString(testKubeconfig("", ""))+`,"scanMode":"watch"}`),
		http.StatusCreated)
	var c clusterJSON
	call(t, e.as("viewer").get("/api/v1/clusters/prod"), http.StatusOK, &c)
	if c.ScanMode != "watch" || c.Watch == nil || c.Watch.State != "polling" || c.Watch.Note == "" {
		t.Fatalf("a watched cluster no replica holds: %+v %+v", c, c.Watch)
	}
	st, err := e.st.ClusterStatusByName(context.Background(), "prod", store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.st.AcquireWatch(context.Background(), st.ID, "r1", time.Minute); !ok || err != nil {
		t.Fatalf("lease: %v %v", ok, err)
	}
	now := time.Now()
	if err := e.st.ReportWatch(context.Background(), st.ID, "r1", store.WatchReport{State: store.WatchLive, LastChange: &now, LastDetected: &now}); err != nil {
		t.Fatal(err)
	}
	call(t, e.as("viewer").get("/api/v1/clusters/prod"), http.StatusOK, &c)
	if c.Watch == nil || c.Watch.State != "live" || c.Watch.LastDetected == nil {
		t.Fatalf("a live watch: %+v", c.Watch)
	}
	call(t, admin.send("PATCH", "/api/v1/clusters/prod", `{"scanMode":"poll"}`), http.StatusOK, &c)
	if c.ScanMode != "poll" || c.Watch != nil {
		t.Fatalf("back to poll: %+v", c)
	}
	want(t, admin.send("PATCH", "/api/v1/clusters/prod", `{"scanMode":"push"}`), http.StatusBadRequest)
}
