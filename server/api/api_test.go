package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// kubeSecret is the token inside testKubeconfig: no answer may ever hold it.
const kubeSecret = "kube-secret-token-value"

// noSecret fails when an answer holds a credential.
// mutationOut is a mutation as a client decodes the API's answer.
type mutationOut struct {
	ID int64 `json:"id"`
	detect.Mutation
	DetectedAt time.Time  `json:"detectedAt"`
	ResolvedAt *time.Time `json:"resolvedAt"`
}

func noSecret(t testing.TB, res response) {
	t.Helper()
	for _, s := range []string{kubeSecret, "kubeconfig\":", "token: "} {
		if strings.Contains(string(res.body), s) {
			t.Errorf("answer holds %q: %s", s, res.body)
		}
	}
}

// TestClusterLifecycle registers, reads, changes, scans and deletes a cluster through
// the API and checks the audit trail of each change.
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	const addr = "203.0.113.7:4242"
	adminCall := func(method, path, body string) response {
		t.Helper()
		req := apiRequest{method: method, path: path, token: e.tokens["admin"], body: body, remoteAddr: addr}
		res := e.call(req)
		noSecret(t, res)
		return res
	}

	// Create.
	res := adminCall("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), `,"scanInterval":"1h30m","annotate":"on"`))
	want(t, res, http.StatusCreated)
	if loc := res.header.Get("Location"); loc != "/api/v1/clusters/prod" {
		t.Errorf("Location %q", loc)
	}
	var c clusterJSON
	res.decode(t, &c)
	if c.Name != "prod" || c.Server != "https://127.0.0.1:1" || c.Context != "c" || c.ScanInterval != "1h30m" ||
		c.Annotate != "on" || !c.Enabled || c.LastScan != nil || c.OpenMutations != 0 || c.CreatedAt.IsZero() {
		t.Errorf("created: %+v", c)
	}
	if !strings.Contains(string(res.body), `"lastScan":null`) {
		t.Errorf("lastScan is not null: %s", res.body)
	}
	if loc := c.CreatedAt.Location(); loc != time.UTC {
		t.Errorf("createdAt in %v", loc)
	}
	// The credentials are stored, sealed, reduced to what Vet keeps.
	full, err := e.st.ClusterStatusByName(ctx, "prod", store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := e.st.Credentials(ctx, full.ID)
	if err != nil || !strings.Contains(string(creds), kubeSecret) || !strings.Contains(string(creds), `"server":"https://127.0.0.1:1"`) {
		t.Errorf("stored credentials: %s, %v", creds, err)
	}

	res = adminCall("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), ""))
	want(t, res, http.StatusConflict)
	if p := res.problem(t); p.Detail != `cluster "prod" already exists` {
		t.Errorf("conflict detail %q", p.Detail)
	}

	// Read, as a viewer too.
	for _, who := range []string{"admin", "viewer"} {
		res = e.as(who).get("/api/v1/clusters/prod")
		want(t, res, http.StatusOK)
		noSecret(t, res)
		var got clusterJSON
		res.decode(t, &got)
		if got.Name != "prod" || got.ScanInterval != "1h30m" {
			t.Errorf("%s reads %+v", who, got)
		}
	}

	// Change.
	res = adminCall("PATCH", "/api/v1/clusters/prod", `{"scanInterval":"5m","enabled":false}`)
	want(t, res, http.StatusOK)
	res.decode(t, &c)
	if c.ScanInterval != "5m" || c.Enabled || c.Annotate != "on" {
		t.Errorf("patched: %+v", c)
	}
	res = adminCall("POST", "/api/v1/clusters/prod/scans", "")
	want(t, res, http.StatusConflict)
	if p := res.problem(t); !strings.Contains(p.Detail, "disabled") {
		t.Errorf("scan of a disabled cluster: %q", p.Detail)
	}
	kc2 := strings.Replace(testKubeconfig("", ""), "name: c\n", "name: other\n", 1)
	kc2 = strings.Replace(kc2, "current-context: c", "current-context: nope", 1)
	kc2 = strings.Replace(kc2, "https://127.0.0.1:1", "https://127.0.0.2:1", 1)
	res = adminCall("PATCH", "/api/v1/clusters/prod", `{"kubeconfig":`+jsonString(kc2)+`,"context":"other","enabled":true}`)
	want(t, res, http.StatusOK)
	res.decode(t, &c)
	if c.Server != "https://127.0.0.2:1" || c.Context != "other" || !c.Enabled {
		t.Errorf("new credentials: %+v", c)
	}
	res = adminCall("PATCH", "/api/v1/clusters/prod", `{}`)
	want(t, res, http.StatusBadRequest)
	res = adminCall("PATCH", "/api/v1/clusters/prod", `{"context":"c"}`)
	want(t, res, http.StatusBadRequest)

	// Scan now: queued until a worker starts it; asks before it starts share it.
	res = adminCall("POST", "/api/v1/clusters/prod/scans", "")
	want(t, res, http.StatusAccepted)
	var accepted struct{ ID int64 }
	res.decode(t, &accepted)
	if accepted.ID <= 0 || res.header.Get("Location") != fmt.Sprintf("/api/v1/scans/%d", accepted.ID) {
		t.Fatalf("accepted %s, Location %q", res.body, res.header.Get("Location"))
	}
	res = adminCall("POST", "/api/v1/clusters/prod/scans", "")
	want(t, res, http.StatusAccepted)
	var again struct{ ID int64 }
	res.decode(t, &again)
	if again.ID != accepted.ID {
		t.Errorf("second ask queued scan %d, want the queued %d", again.ID, accepted.ID)
	}
	var scan scanJSON
	res = e.as("viewer").get(fmt.Sprintf("/api/v1/scans/%d", accepted.ID))
	want(t, res, http.StatusOK)
	res.decode(t, &scan)
	if scan.ID != accepted.ID || scan.Cluster != "prod" || scan.Status != store.ScanQueued || scan.QueuedAt.IsZero() ||
		scan.StartedAt != nil || scan.FinishedAt != nil {
		t.Errorf("queued scan: %+v", scan)
	}
	if !strings.Contains(string(res.body), `"startedAt":null`) || !strings.Contains(string(res.body), `"finishedAt":null`) {
		t.Errorf("unset times are not null: %s", res.body)
	}
	var scans request.List[scanJSON]
	e.as("viewer").get("/api/v1/scans?cluster=prod").decode(t, &scans)
	if len(scans.Items) != 1 || scans.Items[0].ID != accepted.ID || scans.NextCursor != "" {
		t.Errorf("scans of prod: %+v", scans)
	}
	e.as("viewer").get("/api/v1/scans?cluster=staging").decode(t, &scans)
	if len(scans.Items) != 0 {
		t.Errorf("scans of staging: %+v", scans)
	}
	e.as("viewer").get("/api/v1/clusters/prod").decode(t, &c)
	if c.LastScan == nil || c.LastScan.ID != accepted.ID || c.LastScan.Status != store.ScanQueued {
		t.Errorf("lastScan: %+v", c.LastScan)
	}

	// Delete: the credentials go, the history stays.
	res = adminCall("DELETE", "/api/v1/clusters/prod?purge=false", "")
	want(t, res, http.StatusNoContent)
	if len(res.body) != 0 {
		t.Errorf("204 with a body: %s", res.body)
	}
	want(t, e.as("viewer").get("/api/v1/clusters/prod"), http.StatusNotFound)
	want(t, adminCall("DELETE", "/api/v1/clusters/prod", ""), http.StatusNotFound)
	res = e.as("viewer").get(fmt.Sprintf("/api/v1/scans/%d", accepted.ID))
	want(t, res, http.StatusOK)
	if _, err := e.st.Credentials(ctx, full.ID); err == nil {
		t.Error("the deleted cluster's credentials are still readable")
	}
	var clusters request.List[clusterJSON]
	e.as("viewer").get("/api/v1/clusters").decode(t, &clusters)
	if len(clusters.Items) != 0 {
		t.Errorf("clusters after delete: %+v", clusters)
	}
	// The name is free again.
	want(t, adminCall("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)

	// Every change is in the audit trail, with who and from where.
	var audit request.List[auditJSON]
	res = adminCall("GET", "/api/v1/audit", "")
	want(t, res, http.StatusOK)
	res.decode(t, &audit)
	var actions []string
	for _, ev := range audit.Items {
		if ev.Actor == "cli:test" {
			continue
		}
		actions = append(actions, ev.Action+" "+ev.Target)
		if !tokenActor(ev.Actor, "admin") || ev.RemoteAddr != addr || ev.At.IsZero() || ev.ID == 0 {
			t.Errorf("audit event %+v", ev)
		}
		if strings.Contains(fmt.Sprint(ev.Detail), kubeSecret) {
			t.Errorf("audit detail holds a secret: %+v", ev.Detail)
		}
	}
	wantActions := []string{ // newest first
		"cluster.create prod", "cluster.delete prod", "scan.request prod", "scan.request prod",
		"cluster.update prod", "cluster.update prod", "cluster.create prod",
	}
	if !slices.Equal(actions, wantActions) {
		t.Errorf("audit actions:\n got %q\nwant %q", actions, wantActions)
	}

	// Filtered as the audit page filters: a family of actions, a page at a time, the
	// cursor bound to its filters.
	var updates request.List[auditJSON]
	adminCall("GET", "/api/v1/audit?action=cluster.&target=prod&since=24h&limit=2", "").decode(t, &updates)
	if len(updates.Items) != 2 || updates.Items[0].Action != "cluster.create" || updates.Items[1].Action != "cluster.delete" || updates.NextCursor == "" {
		t.Fatalf("audit filtered by family: %+v", updates)
	}
	var rest request.List[auditJSON]
	adminCall("GET", "/api/v1/audit?action=cluster.&target=prod&since=24h&limit=2&cursor="+updates.NextCursor, "").decode(t, &rest)
	if len(rest.Items) != 2 || rest.Items[0].Action != "cluster.update" || rest.Items[1].Action != "cluster.update" {
		t.Errorf("second page: %+v", rest)
	}
	want(t, adminCall("GET", "/api/v1/audit?action=scan.request&cursor="+updates.NextCursor, ""), http.StatusBadRequest)
	want(t, adminCall("GET", "/api/v1/audit?until=yesterday", ""), http.StatusBadRequest)
	var none request.List[auditJSON]
	adminCall("GET", "/api/v1/audit?actor=user:nobody", "").decode(t, &none)
	if len(none.Items) != 0 {
		t.Errorf("actor user:nobody: %+v", none)
	}
}

// TestForwardedForIsNotTrusted checks that the audit trail records the connection's
// address, whatever X-Forwarded-For claims.
func TestForwardedForIsNotTrusted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req := e.newRequest(apiRequest{method: "POST", path: "/api/v1/tokens", token: testAdminToken, body: `{"name":"ci","role":"viewer"}`})
	req.RemoteAddr = "198.51.100.9:5555"
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	want(t, serve(e, req), http.StatusCreated)
	events, err := e.st.AuditEvents(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != store.ActionTokenCreate || events[0].Actor != "admin-token" || events[0].RemoteAddr != "198.51.100.9:5555" {
		t.Errorf("audit: %+v", events)
	}
}

// TestTokens creates, lists, uses and revokes a token through the API.
func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("admin")
	before := time.Now()
	res := admin.send("POST", "/api/v1/tokens", `{"name":"ci","role":"viewer","expiresIn":"720h"}`)
	want(t, res, http.StatusCreated)
	var created createdToken
	res.decode(t, &created)
	if created.ID <= 0 || created.Name != "ci" || created.Role != "viewer" || !strings.HasPrefix(created.Token, "tdt_") || created.ExpiresAt == nil {
		t.Fatalf("created: %+v", created)
	}
	if d := created.ExpiresAt.Sub(before); d < 719*time.Hour || d > 721*time.Hour {
		t.Errorf("expires in %s, want 720h", d)
	}
	res = admin.send("POST", "/api/v1/tokens", `{"name":"forever","role":"admin"}`)
	want(t, res, http.StatusCreated)
	if !strings.Contains(string(res.body), `"expiresAt":null`) {
		t.Errorf("a token without expiry: %s", res.body)
	}

	// The new token works, with its role.
	ci := caller{e: e, token: created.Token}
	want(t, ci.get("/api/v1/clusters"), http.StatusOK)
	want(t, ci.get("/api/v1/tokens"), http.StatusForbidden)

	// Listed without secrets, newest first, and paged.
	res = admin.get("/api/v1/tokens")
	want(t, res, http.StatusOK)
	if strings.Contains(string(res.body), created.Token) || strings.Contains(string(res.body), "tdt_") {
		t.Errorf("the list shows a secret: %s", res.body)
	}
	var toks request.List[tokenJSON]
	res.decode(t, &toks)
	var names []string
	for _, tok := range toks.Items {
		names = append(names, tok.Name)
	}
	if want := []string{"forever", "ci", "revoked", "expired", "viewer", "admin"}; !slices.Equal(names, want) {
		t.Errorf("tokens %q, want %q", names, want)
	}
	if !tokenActor(toks.Items[1].CreatedBy, "admin") || toks.Items[1].LastUsedAt == nil || toks.Items[1].RevokedAt != nil {
		t.Errorf("ci: %+v", toks.Items[1])
	}
	if toks.Items[2].RevokedAt == nil {
		t.Errorf("revoked: %+v", toks.Items[2])
	}
	var seen []string
	path := "/api/v1/tokens?limit=4"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		var p request.List[tokenJSON]
		admin.get(path).decode(t, &p)
		for _, tok := range p.Items {
			seen = append(seen, tok.Name)
		}
		if p.NextCursor == "" {
			break
		}
		path = "/api/v1/tokens?limit=4&cursor=" + p.NextCursor
	}
	if !slices.Equal(seen, names) {
		t.Errorf("paged %q, want %q", seen, names)
	}

	// Revoked, it stops working at once.
	want(t, admin.send("DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.ID), ""), http.StatusNoContent)
	res = ci.get("/api/v1/clusters")
	want(t, res, http.StatusUnauthorized)
	want(t, admin.send("DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.ID), ""), http.StatusNotFound)

	var audit request.List[auditJSON]
	admin.get("/api/v1/audit?limit=3").decode(t, &audit)
	if len(audit.Items) != 3 || audit.NextCursor == "" {
		t.Fatalf("audit page: %+v", audit)
	}
	got := []string{audit.Items[0].Action + " " + audit.Items[0].Target, audit.Items[1].Action + " " + audit.Items[1].Target, audit.Items[2].Action + " " + audit.Items[2].Target}
	if want := []string{"token.revoke ci", "token.create forever", "token.create ci"}; !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}
	for _, ev := range audit.Items {
		if !tokenActor(ev.Actor, "admin") || ev.RemoteAddr == "" {
			t.Errorf("audit event %+v", ev)
		}
	}
}

// TestClusterPaging pages through clusters by name.
func TestClusterPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("env-admin")
	for _, name := range []string{"c", "a", "e", "b", "d"} {
		want(t, admin.send("POST", "/api/v1/clusters", clusterBody(name, testKubeconfig("", ""), "")), http.StatusCreated)
	}
	var names []string
	path := "/api/v1/clusters?limit=2"
	for pages := 0; pages < 10; pages++ {
		var p request.List[clusterJSON]
		admin.get(path).decode(t, &p)
		if len(p.Items) > 2 {
			t.Fatalf("page of %d", len(p.Items))
		}
		for _, c := range p.Items {
			names = append(names, c.Name)
		}
		if p.NextCursor == "" {
			break
		}
		path = "/api/v1/clusters?limit=2&cursor=" + p.NextCursor
	}
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(names, want) {
		t.Errorf("clusters %q, want %q", names, want)
	}
	var all request.List[clusterJSON]
	res := admin.get("/api/v1/clusters?limit=5")
	res.decode(t, &all)
	if len(all.Items) != 5 || all.NextCursor != "" || !strings.Contains(string(res.body), `"nextCursor":""`) {
		t.Errorf("one full page: %s", res.body)
	}
}

// fleet seeds scan history through the store's write path, as the scheduler would.
type fleet struct {
	t  *testing.T
	e  *testEnv
	id map[string]int64
}

func digestOf(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }

// webPod is a pod of Deployment web in shop running nginx:1.25 at a digest.
func webPod(cluster, name, uid, letter string) inventory.Pod {
	ref := imageref.ParseRef("nginx:1.25")
	id, _ := imageref.ParseImageID("docker.io/library/nginx@" + digestOf(letter))
	return inventory.Pod{
		Cluster: cluster, Namespace: "shop", Name: name, UID: types.UID(uid), Node: "n1", Arch: "amd64",
		Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
		Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}},
	}
}

// scan records one complete scan of cluster at at, and the mutations it finds.
func (f *fleet) scan(cluster string, at time.Time, pods ...inventory.Pod) {
	f.t.Helper()
	ctx := context.Background()
	st := f.e.st
	id, err := st.StartScan(ctx, f.id[cluster], at)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := st.CompleteScan(ctx, id, pods, len(pods), at.Add(time.Second)); err != nil {
		f.t.Fatal(err)
	}
	for {
		r, err := st.RecheckRefs(ctx, 100, at.Add(time.Second))
		if err != nil {
			f.t.Fatal(err)
		}
		if r.Refs == 0 {
			break
		}
	}
}

// TestHistoryReads seeds a tag that moves under a Deployment and reads the workloads,
// mutations, timeline and digest look-up.
func TestHistoryReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	viewer := e.as("viewer")
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	for _, name := range []string{"prod", "staging"} {
		want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody(name, testKubeconfig("", ""), "")), http.StatusCreated)
		c, err := e.st.ClusterStatusByName(context.Background(), name, store.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)

	// t0: both pods run A. t1: a new pod pulls B: the tag moved, the Deployment diverges.
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "a"))
	f.scan("staging", t0, webPod("staging", "web-s", "u-s", "a"))
	f.scan("prod", t1, webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-c", "u-c", "b"))

	var wl request.List[report.Workload]
	res := viewer.get("/api/v1/workloads?mutant=true")
	want(t, res, http.StatusOK)
	res.decode(t, &wl)
	if len(wl.Items) != 1 || wl.Items[0].Cluster != "prod" || wl.Items[0].Name != "web" || wl.Items[0].Kind != "Deployment" || !wl.Items[0].Mutant {
		t.Fatalf("mutant workloads: %s", res.body)
	}
	ctr := wl.Items[0].Containers
	if len(ctr) != 1 || ctr[0].Name != "app" || ctr[0].Ref != "docker.io/library/nginx:1.25" || ctr[0].Image != "nginx:1.25" ||
		ctr[0].Type != inventory.Regular || ctr[0].Pinned || len(ctr[0].Digests) != 2 {
		t.Errorf("containers: %s", res.body)
	}
	for _, d := range ctr[0].Digests {
		if d.Kind != imageref.KindRepo || len(d.Pods) != 1 {
			t.Errorf("digest %+v", d)
		}
	}
	res = viewer.get("/api/v1/workloads")
	res.decode(t, &wl)
	if len(wl.Items) != 2 || wl.Items[0].Cluster != "prod" || wl.Items[1].Cluster != "staging" || wl.Items[1].Mutant {
		t.Errorf("all workloads: %s", res.body)
	}
	res = viewer.get("/api/v1/workloads?limit=1")
	res.decode(t, &wl)
	if len(wl.Items) != 1 || wl.NextCursor == "" {
		t.Fatalf("first page: %s", res.body)
	}
	res = viewer.get("/api/v1/workloads?limit=1&cursor=" + wl.NextCursor)
	res.decode(t, &wl)
	if len(wl.Items) != 1 || wl.Items[0].Cluster != "staging" || wl.NextCursor != "" {
		t.Errorf("second page: %s", res.body)
	}
	want(t, viewer.get("/api/v1/workloads?mutant=true&limit=1&cursor="+wl.NextCursor), http.StatusOK)
	first := viewer.get("/api/v1/workloads?limit=1")
	var firstPage request.List[report.Workload]
	first.decode(t, &firstPage)
	want(t, viewer.get("/api/v1/workloads?mutant=true&limit=1&cursor="+firstPage.NextCursor), http.StatusBadRequest)
	// Behind the tag: nginx:1.25 moved a→b (in prod); staging's web runs only a.
	var behind request.List[struct {
		Cluster, Name string
		Mutant        bool
		Behind        []struct {
			Ref, Tag    string
			Digests     []string
			MovedAt     time.Time
			TagClusters []string
		}
	}]
	res = viewer.get("/api/v1/workloads?behind=true")
	want(t, res, http.StatusOK)
	res.decode(t, &behind)
	if len(behind.Items) != 1 || behind.Items[0].Cluster != "staging" || behind.Items[0].Name != "web" || len(behind.Items[0].Behind) != 1 {
		t.Fatalf("workloads behind: %s", res.body)
	}
	if b := behind.Items[0].Behind[0]; b.Ref != "docker.io/library/nginx:1.25" || !slices.Equal(b.Digests, []string{"sha256:" + strings.Repeat("a", 64)}) ||
		b.Tag != "sha256:"+strings.Repeat("b", 64) || b.MovedAt.Before(t1) || b.MovedAt.After(t1.Add(time.Second)) ||
		!slices.Equal(b.TagClusters, []string{"prod"}) {
		t.Errorf("behind: %s", res.body)
	}
	if res = viewer.get("/api/v1/workloads?cluster=prod"); strings.Contains(string(res.body), `"behind"`) {
		t.Errorf("prod's web runs the tag's digest too, and is not behind: %s", res.body)
	}
	want(t, viewer.get("/api/v1/workloads?behind=true&mutant=true"), http.StatusBadRequest)
	// A built-in kind in any case, as pages print it in lower case.
	for _, kind := range []string{"Deployment", "deployment", "DEPLOYMENT"} {
		res = viewer.get("/api/v1/workloads?cluster=staging&namespace=shop&kind=" + kind)
		res.decode(t, &wl)
		if len(wl.Items) != 1 || wl.Items[0].Cluster != "staging" || wl.Items[0].Kind != "Deployment" {
			t.Errorf("workloads of kind %s: %s", kind, res.body)
		}
	}
	// A reference in any spelling.
	for _, spelling := range []string{"nginx:1.25", "docker.io/library/nginx:1.25", "index.docker.io/library/nginx:1.25"} {
		res = viewer.get("/api/v1/workloads?sort=name&ref=" + spelling)
		res.decode(t, &wl)
		if len(wl.Items) != 2 {
			t.Errorf("workloads running %s: %s", spelling, res.body)
		}
	}
	if res = viewer.get("/api/v1/workloads?ref=redis:7"); !strings.Contains(string(res.body), `"items":[]`) {
		t.Errorf("workloads running redis: %s", res.body)
	}

	var open request.List[mutationOut]
	res = viewer.get("/api/v1/mutations?cluster=prod&kind=workload-divergence")
	want(t, res, http.StatusOK)
	res.decode(t, &open)
	if len(open.Items) != 1 {
		t.Fatalf("open workload-divergences: %s", res.body)
	}
	m := open.Items[0]
	if m.ID <= 0 || m.Kind != detect.WorkloadDivergence || m.Cluster != "prod" || m.Namespace != "shop" ||
		m.Workload != (inventory.Workload{Kind: "Deployment", Name: "web"}) || m.Container != "app" ||
		m.Ref != "docker.io/library/nginx:1.25" || !slices.Equal(m.Digests, []string{digestOf("a"), digestOf("b")}) ||
		len(m.Places) != 2 || m.DetectedAt.IsZero() || m.ResolvedAt != nil {
		t.Errorf("workload-divergence: %s", res.body)
	}
	if !strings.Contains(string(res.body), `"resolvedAt":null`) {
		t.Errorf("open mutation without resolvedAt null: %s", res.body)
	}
	res = viewer.get(fmt.Sprintf("/api/v1/mutations/%d", m.ID))
	want(t, res, http.StatusOK)
	var one mutationOut
	res.decode(t, &one)
	if one.ID != m.ID || one.Kind != m.Kind || len(one.Places) != 2 {
		t.Errorf("mutation by id: %s", res.body)
	}
	res = viewer.get("/api/v1/mutations?kind=tag-moved&state=all")
	var moved request.List[mutationOut]
	res.decode(t, &moved)
	if len(moved.Items) != 1 || moved.Items[0].Ref != "docker.io/library/nginx:1.25" {
		t.Errorf("tag-moved: %s", res.body)
	}
	var c clusterJSON
	viewer.get("/api/v1/clusters/prod").decode(t, &c)
	if c.OpenMutations < 1 || c.LastScan == nil || c.LastScan.Status != store.ScanSucceeded || c.LastScan.Pods != 2 {
		t.Errorf("prod: %+v (last scan %+v)", c, c.LastScan)
	}

	// t2: the old pod is replaced; everything runs B: the divergence resolves.
	f.scan("prod", t2, webPod("prod", "web-d", "u-d", "b"), webPod("prod", "web-c", "u-c", "b"))
	res = viewer.get("/api/v1/mutations?cluster=prod&kind=workload-divergence")
	res.decode(t, &open)
	if len(open.Items) != 0 {
		t.Errorf("still open: %s", res.body)
	}
	var closed request.List[mutationOut]
	viewer.get("/api/v1/mutations?cluster=prod&kind=workload-divergence&state=closed").decode(t, &closed)
	if len(closed.Items) != 1 || closed.Items[0].ID != m.ID || closed.Items[0].ResolvedAt == nil {
		t.Errorf("closed: %+v", closed)
	}
	var all request.List[mutationOut]
	viewer.get("/api/v1/mutations?state=all&limit=1").decode(t, &all)
	if len(all.Items) != 1 || all.NextCursor == "" {
		t.Errorf("mutations page: %+v", all)
	}

	// The timeline: A, then B, whatever the spelling.
	for _, spelling := range []string{"nginx:1.25", "docker.io/library/nginx:1.25", "library/nginx:1.25", "index.docker.io/library/nginx:1.25"} {
		var tl timelineJSON
		res = viewer.get("/api/v1/images/timeline?ref=" + spelling)
		want(t, res, http.StatusOK)
		res.decode(t, &tl)
		if tl.Ref != "docker.io/library/nginx:1.25" || len(tl.Digests) != 2 {
			t.Fatalf("timeline of %s: %s", spelling, res.body)
		}
		a, b := tl.Digests[0], tl.Digests[1]
		if a.Digest != digestOf("a") || !a.FirstSeen.Equal(t0) || a.Running != true || !slices.Equal(a.Clusters, []string{"prod", "staging"}) || a.Pods != 3 {
			t.Errorf("digest A: %+v", a)
		}
		if b.Digest != digestOf("b") || !b.FirstSeen.Equal(t1) || !b.Running || !slices.Equal(b.Clusters, []string{"prod"}) || b.Pods != 2 {
			t.Errorf("digest B: %+v", b)
		}
		// Now: prod runs only B; staging still runs A.
		if !slices.Equal(a.ClustersNow, []string{"staging"}) || a.PodsNow >= a.Pods || !slices.Equal(b.ClustersNow, []string{"prod"}) || b.PodsNow != 2 {
			t.Errorf("now: A on %v (%d of %d pods), B on %v (%d pods)", a.ClustersNow, a.PodsNow, a.Pods, b.ClustersNow, b.PodsNow)
		}
	}
	var tl timelineJSON
	res = viewer.get("/api/v1/images/timeline?ref=nginx")
	res.decode(t, &tl)
	if tl.Ref != "docker.io/library/nginx:latest" || tl.Digests == nil || len(tl.Digests) != 0 {
		t.Errorf("timeline of a reference never seen: %s", res.body)
	}
	// It never ran, but a reference that ends so did: said, as the search would.
	if !slices.Equal(tl.Suggestions, []string{"docker.io/library/nginx:1.25"}) {
		t.Errorf("suggestions for nginx: %q", tl.Suggestions)
	}
	tl = timelineJSON{}
	viewer.get("/api/v1/images/timeline?ref=nginx:1.25").decode(t, &tl)
	if tl.Suggestions != nil {
		t.Errorf("a reference that ran suggests %q", tl.Suggestions)
	}
	res = viewer.get("/api/v1/images/timeline?ref=nginx:1.25@" + digestOf("a"))
	want(t, res, http.StatusOK)
	res.decode(t, &tl)
	if tl.Ref != "docker.io/library/nginx:1.25@"+digestOf("a") {
		t.Errorf("pinned reference: %s", res.body)
	}

	// A digest by its first hex digits, with or without sha256:, as the search takes it.
	for _, prefix := range []string{digestOf("b")[7:19], digestOf("b")[:19]} {
		var byPrefix request.DigestJSON
		res = viewer.get("/api/v1/digests/" + prefix)
		want(t, res, http.StatusOK)
		res.decode(t, &byPrefix)
		if byPrefix.Digest != digestOf("b") || len(byPrefix.Running) != 2 {
			t.Errorf("digest by prefix %s: %s", prefix, res.body)
		}
	}
	want(t, viewer.get("/api/v1/digests/"+strings.Repeat("0", 12)), http.StatusNotFound)
	want(t, viewer.get("/api/v1/digests/abc"), http.StatusBadRequest)

	// Where B runs; where A ran.
	var du request.DigestJSON
	res = viewer.get("/api/v1/digests/" + digestOf("b"))
	want(t, res, http.StatusOK)
	res.decode(t, &du)
	if du.Digest != digestOf("b") || len(du.Running) != 2 || du.HistoryTruncated {
		t.Errorf("digest B: %s", res.body)
	}
	for _, p := range du.Running {
		if p.Cluster != "prod" || p.Namespace != "shop" || p.Workload.Name != "web" || p.Container != "app" || p.Digest != digestOf("b") {
			t.Errorf("place %+v", p)
		}
	}
	res = viewer.get("/api/v1/digests/" + digestOf("a"))
	res.decode(t, &du)
	if len(du.Running) != 1 || du.Running[0].Cluster != "staging" || len(du.History) != 3 {
		t.Errorf("digest A: %s", res.body)
	}
	for _, h := range du.History {
		if h.FirstSeen.IsZero() || h.LastSeen.Before(h.FirstSeen) {
			t.Errorf("history place %+v", h)
		}
	}
	res = viewer.get("/api/v1/digests/" + digestOf("f"))
	want(t, res, http.StatusOK)
	if !strings.Contains(string(res.body), `"running":[]`) || !strings.Contains(string(res.body), `"history":[]`) {
		t.Errorf("unknown digest: %s", res.body)
	}
	// Sorted on the server, in pages: staging's workload changed last (prod's at t2).
	f.scan("staging", t2.Add(time.Minute), webPod("staging", "web-s", "u-s", "a"), webPod("staging", "web-t", "u-t", "a"))
	var clusters []string
	next := ""
	for range 3 {
		res = viewer.get("/api/v1/workloads?sort=changed&order=desc&limit=1&cursor=" + next)
		want(t, res, http.StatusOK)
		res.decode(t, &wl)
		for _, w := range wl.Items {
			clusters = append(clusters, w.Cluster)
		}
		if next = wl.NextCursor; next == "" {
			break
		}
	}
	if !slices.Equal(clusters, []string{"staging", "prod"}) {
		t.Errorf("by last change, newest first: %v", clusters)
	}
	res = viewer.get("/api/v1/workloads?sort=changed&order=desc&limit=1")
	res.decode(t, &firstPage)
	for _, other := range []string{"sort=changed", "sort=name&order=desc", "order=desc", "sort=changed&order=desc&mutant=true"} {
		res = viewer.get("/api/v1/workloads?limit=1&" + other + "&cursor=" + firstPage.NextCursor)
		want(t, res, http.StatusBadRequest)
		if !strings.Contains(string(res.body), "cursor is not a cursor of this list") {
			t.Errorf("%s with a cursor of sort=changed&order=desc: %s", other, res.body)
		}
	}

	// The mutations' filters, as the UI's mutations page has them.
	count := func(query string) int {
		t.Helper()
		var l request.List[mutationOut]
		res := viewer.get("/api/v1/mutations?state=all&limit=1000&" + query)
		want(t, res, http.StatusOK)
		res.decode(t, &l)
		return len(l.Items)
	}
	total := count("")
	if total < 2 {
		t.Fatalf("%d mutations", total)
	}
	for query, n := range map[string]int{
		"ref=nginx:1.25": total, "ref=index.docker.io/library/nginx:1.25": total, "ref=redis:7": 0,
		"since=" + t0.Format(time.RFC3339): total, "since=24h": total,
		"since=" + t2.Add(time.Hour).Format(time.RFC3339): 0, "until=" + t0.Format(time.RFC3339): 0,
		"until=" + t2.Add(time.Hour).Format(time.RFC3339): total,
		"workload=Deployment/nope":                        0, "workload=Deployment/web&kind=workload-divergence": 1,
	} {
		if got := count(query); got != n {
			t.Errorf("mutations with %s: %d, want %d", query, got, n)
		}
	}
	viewer.get("/api/v1/mutations?state=all&limit=1").decode(t, &all)
	res = viewer.get("/api/v1/mutations?state=all&limit=1&ref=nginx:1.25&cursor=" + all.NextCursor)
	want(t, res, http.StatusBadRequest)
}

// TestFormatDuration checks how intervals read.
func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute:                 "5m",
		90 * time.Minute:                "1h30m",
		45 * time.Second:                "45s",
		time.Hour:                       "1h",
		time.Hour + 5*time.Second:       "1h0m5s",
		10*time.Minute + 30*time.Second: "10m30s",
		1500 * time.Millisecond:         "1.5s",
		24 * time.Hour:                  "24h",
	} {
		if got := request.FormatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// tokenActor says whether actor names the token called name, as the audit trail does:
// token:<id>:<name>.
func tokenActor(actor, name string) bool {
	return regexp.MustCompile(`^token:[1-9][0-9]*:` + regexp.QuoteMeta(name) + `$`).MatchString(actor)
}

// TestGroups: clusters name their group, default unless set; groups are listed,
// created, renamed and deleted by admins, a group with clusters is not deleted, and
// moving a cluster empties its old group.
func TestGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("admin")
	call := func(t *testing.T, res response, status int, out any) {
		t.Helper()
		want(t, res, status)
		if err := json.Unmarshal(res.body, out); err != nil {
			t.Fatal(err)
		}
	}
	var c struct{ Group string }
	call(t, admin.send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated, &c)
	if c.Group != "default" {
		t.Errorf("a new cluster's group %q", c.Group)
	}
	call(t, admin.send("PATCH", "/api/v1/clusters/prod", `{"group":"team-a"}`), http.StatusOK, &c)
	if c.Group != "team-a" {
		t.Errorf("moved cluster's group %q", c.Group)
	}
	var list struct {
		Items []struct {
			Name     string
			Clusters int
		}
	}
	call(t, e.as("viewer").send("GET", "/api/v1/groups", ""), http.StatusOK, &list)
	if len(list.Items) != 2 || list.Items[0].Name != "default" || list.Items[1].Name != "team-a" || list.Items[1].Clusters != 1 {
		t.Errorf("groups %+v", list.Items)
	}
	want(t, admin.send("DELETE", "/api/v1/groups/team-a", ""), http.StatusConflict)
	want(t, admin.send("DELETE", "/api/v1/groups/default", ""), http.StatusConflict)
	want(t, admin.send("POST", "/api/v1/groups", `{"name":"Bad Name"}`), http.StatusBadRequest)
	want(t, admin.send("POST", "/api/v1/groups", `{"name":"team-b"}`), http.StatusCreated)
	want(t, admin.send("POST", "/api/v1/groups", `{"name":"team-b"}`), http.StatusConflict)
	want(t, admin.send("PATCH", "/api/v1/groups/team-b", `{"name":"team-c"}`), http.StatusOK)
	want(t, admin.send("PATCH", "/api/v1/clusters/prod", `{"group":"default"}`), http.StatusOK)
	var ms struct{ Items []struct{ Group string } }
	call(t, e.as("viewer").send("GET", "/api/v1/mutations?state=all&group=team-c", ""), http.StatusOK, &ms)
	if len(ms.Items) != 0 {
		t.Errorf("mutations of an empty group: %+v", ms.Items)
	}
	want(t, admin.send("DELETE", "/api/v1/groups/team-a", ""), http.StatusNoContent)
	want(t, admin.send("DELETE", "/api/v1/groups/team-a", ""), http.StatusNotFound)
}
