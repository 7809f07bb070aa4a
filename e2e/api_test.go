package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// apiClient calls the REST API of a running service with one token.
type apiClient struct {
	t     *testing.T
	url   string
	token string
}

// do sends a request and returns the status and body; body v, when not nil, is sent as
// JSON.
func (c apiClient) do(method, path string, v any) (int, []byte) {
	c.t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// must sends a request, expects status want, and decodes the body into out.
func (c apiClient) must(method, path string, v any, want int, out any) {
	c.t.Helper()
	code, b := c.do(method, path, v)
	if code != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// The API's JSON, as far as this test reads it.
type (
	apiScan struct {
		ID      int64  `json:"id"`
		Cluster string `json:"cluster"`
		Status  string `json:"status"`
		Pods    int    `json:"pods"`
		Opened  int    `json:"opened"`
		Closed  int    `json:"closed"`
		Error   string `json:"error"`
	}
	apiCluster struct {
		Name          string   `json:"name"`
		Server        string   `json:"server"`
		ScanInterval  string   `json:"scanInterval"`
		Enabled       bool     `json:"enabled"`
		LastScan      *apiScan `json:"lastScan"`
		OpenMutations int      `json:"openMutations"`
	}
	apiMutation struct {
		ID         int64       `json:"id"`
		Kind       string      `json:"kind"`
		Cluster    string      `json:"cluster"`
		Ref        string      `json:"ref"`
		Digests    []string    `json:"digests"`
		Places     []placeJSON `json:"places"`
		DetectedAt time.Time   `json:"detectedAt"`
		ResolvedAt *time.Time  `json:"resolvedAt"`
	}
	apiTimeline struct {
		Ref     string `json:"ref"`
		Digests []struct {
			Digest    string    `json:"digest"`
			FirstSeen time.Time `json:"firstSeen"`
			LastSeen  time.Time `json:"lastSeen"`
			Running   bool      `json:"running"`
			Clusters  []string  `json:"clusters"`
			Pods      int       `json:"pods"`
		} `json:"digests"`
	}
	apiDigest struct {
		Digest  string      `json:"digest"`
		Running []placeJSON `json:"running"`
		History []struct {
			placeJSON
			FirstSeen time.Time `json:"firstSeen"`
			LastSeen  time.Time `json:"lastSeen"`
		} `json:"history"`
	}
)

// list reads every page of a list endpoint.
func list[T any](c apiClient, path string) []T {
	c.t.Helper()
	var all []T
	cursor := ""
	for range 100 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		p := path
		if cursor != "" {
			p += sep + "cursor=" + cursor
		}
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"nextCursor"`
		}
		c.must(http.MethodGet, p, nil, http.StatusOK, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	c.t.Fatalf("%s: more than 100 pages", path)
	return nil
}

// apiDigestOf is a repository digest made of one repeated hex letter.
func apiDigestOf(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }

// TestAPI registers two real clusters through the REST API of a running `tagdrift
// serve`, scans them, moves a tag under one pod, scans again, converges, and asserts
// what users read: clusters, scans, workloads, open and closed mutations, the timeline
// of the moved tag, the digest look-up, the audit trail, roles, and that no credential
// is ever returned.
func TestAPI(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	admin := "e2e-admin-" + newKeyText()[:16]
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText(), "TAGDRIFT_ADMIN_TOKEN=" + admin}
	s := startServe(t, env, "--allow-cluster-network", "127.0.0.0/8")
	if err := pollUntil(30*time.Second, func() bool { code, _, err := s.get("/readyz"); return err == nil && code == 200 }); err != nil {
		t.Fatalf("never ready: %v", err)
	}
	root := apiClient{t: t, url: s.url, token: admin}

	// The first viewer token is made by the admin; it is shown once.
	var made struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	root.must(http.MethodPost, "/api/v1/tokens", map[string]any{"name": "ops", "role": "admin"}, http.StatusCreated, &made)
	ops := apiClient{t: t, url: s.url, token: made.Token}
	opsActor := fmt.Sprintf("token:%d:ops", made.ID) // the audit names a token by id and name
	root.must(http.MethodPost, "/api/v1/tokens", map[string]any{"name": "reader", "role": "viewer"}, http.StatusCreated, &made)
	viewer := apiClient{t: t, url: s.url, token: made.Token}
	if made.Role != "viewer" || !strings.HasPrefix(made.Token, "tdt_") {
		t.Fatalf("viewer token: %+v", made)
	}

	// Pods: in gamma two bare pods on nginx:1.27 and two of one ReplicaSet revision on
	// two digests of one tag; in delta one bare pod on nginx:1.27.
	gamma, delta := setup.env.Cluster("gamma"), setup.env.Cluster("delta")
	const ns = "api"
	nginx := "docker.io/library/nginx@"
	for _, c := range []*kubeenv.Cluster{gamma, delta} {
		if err := c.Namespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	mkPod := func(c *kubeenv.Cluster, name, image string, owner *metav1.OwnerReference, imageID string) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}
		if owner != nil {
			pod.Labels = map[string]string{"pod-template-hash": "5d4f"}
			pod.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		if _, err := c.Admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		setImage(t, c, name, imageID)
	}
	// Other tests count the pods of gamma and delta: leave none behind. Pods bound to no
	// node go at once.
	t.Cleanup(func() {
		zero := int64(0)
		for c, pods := range map[*kubeenv.Cluster][]string{gamma: {"p1", "p2", "w1", "w2"}, delta: {"q1"}} {
			for _, p := range pods {
				err := c.Admin.CoreV1().Pods(ns).Delete(context.Background(), p, metav1.DeleteOptions{GracePeriodSeconds: &zero})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("delete pod %s: %v", p, err)
				}
			}
		}
	})
	rs := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f", UID: "00000000-0000-0000-0000-0000000000e2", Controller: &yes}
	mkPod(gamma, "p1", "nginx:1.27", nil, nginx+apiDigestOf("a"))
	mkPod(gamma, "p2", "nginx:1.27", nil, nginx+apiDigestOf("a"))
	mkPod(gamma, "w1", "registry.example.com/web:2", rs, "registry.example.com/web@"+apiDigestOf("c"))
	mkPod(gamma, "w2", "registry.example.com/web:2", rs, "registry.example.com/web@"+apiDigestOf("d"))
	mkPod(delta, "q1", "nginx:1.27", nil, nginx+apiDigestOf("a"))

	// Register both clusters through the API; the first scans start at once.
	for _, c := range []struct {
		name string
		kc   *kubeenv.Cluster
	}{{"gamma", gamma}, {"delta", delta}} {
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := kubeenv.WriteKubeconfig(path, c.name, c.kc.Context(c.name, c.kc.AdminToken)); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"name": c.name, "kubeconfig": string(raw), "scanInterval": "1h"}
		if code, b := viewer.do(http.MethodPost, "/api/v1/clusters", body); code != http.StatusForbidden {
			t.Errorf("a viewer registered a cluster: %d %s", code, b)
		}
		var got apiCluster
		ops.must(http.MethodPost, "/api/v1/clusters", body, http.StatusCreated, &got)
		if got.Name != c.name || got.Server != c.kc.Host || got.ScanInterval != "1h" || !got.Enabled {
			t.Errorf("registered %s: %+v", c.name, got)
		}
	}
	waitScan := func(name string, after int64) apiScan {
		t.Helper()
		var last apiScan
		err := pollUntil(90*time.Second, func() bool {
			var c apiCluster
			viewer.must(http.MethodGet, "/api/v1/clusters/"+name, nil, http.StatusOK, &c)
			if c.LastScan == nil || c.LastScan.ID <= after {
				return false
			}
			last = *c.LastScan
			return last.Status == "succeeded" || last.Status == "failed"
		})
		if err != nil || last.Status != "succeeded" {
			t.Fatalf("scan of %s after %d: %v %+v", name, after, err, last)
		}
		return last
	}
	g1, d1 := waitScan("gamma", 0), waitScan("delta", 0)

	// The ReplicaSet's pods diverge: one open workload-divergence, its workload mutant.
	workloads := list[workloadJSON](viewer, "/api/v1/workloads?cluster=gamma&namespace="+ns+"&limit=1")
	var names []string
	for _, w := range workloads {
		names = append(names, fmt.Sprintf("%s/%s/%s/%s mutant=%t", w.Cluster, w.Namespace, w.Kind, w.Name, w.Mutant))
	}
	if want := []string{"gamma/api/Pod/p1 mutant=false", "gamma/api/Pod/p2 mutant=false", "gamma/api/ReplicaSet/web-5d4f mutant=true"}; !slices.Equal(names, want) {
		t.Errorf("workloads of gamma/api, one a page: %v, want %v", names, want)
	}
	mutants := list[workloadJSON](viewer, "/api/v1/workloads?mutant=true&namespace="+ns)
	if len(mutants) != 1 || mutants[0].Name != "web-5d4f" || len(mutants[0].Containers) != 1 || len(mutants[0].Containers[0].Digests) != 2 {
		t.Errorf("mutant workloads: %+v", mutants)
	}
	open := list[apiMutation](viewer, "/api/v1/mutations?namespace="+ns)
	if got := mutationSummary(open); !slices.Equal(got, []string{"workload-divergence gamma w1,w2"}) {
		t.Errorf("open mutations after the first scans: %v", got)
	}

	// q1 restarts onto a moved nginx:1.27 (digest b): ask for a scan of delta now.
	setImage(t, delta, "q1", nginx+apiDigestOf("b"))
	var asked struct {
		ID int64 `json:"id"`
	}
	if code, _ := viewer.do(http.MethodPost, "/api/v1/clusters/delta/scans", nil); code != http.StatusForbidden {
		t.Errorf("a viewer asked for a scan: %d", code)
	}
	ops.must(http.MethodPost, "/api/v1/clusters/delta/scans", nil, http.StatusAccepted, &asked)
	if asked.ID <= d1.ID {
		t.Fatalf("scan asked for: %+v, after %d", asked, d1.ID)
	}
	d2 := waitScan("delta", d1.ID)
	var byID apiScan
	viewer.must(http.MethodGet, fmt.Sprintf("/api/v1/scans/%d", d2.ID), nil, http.StatusOK, &byID)
	if byID.Cluster != "delta" || byID.Status != "succeeded" || byID.Opened != 1 || byID.Closed != 1 {
		t.Errorf("second scan of delta: %+v", byID)
	}

	// A scan is recorded as succeeded before the tag-divergence recheck it queued is
	// worked off (by that scan's job, or by a periodic recheck already holding the
	// reference), so a cross-cluster mutation may open or resolve a moment later.
	waitOpen := func(when string, want []string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			got := mutationSummary(list[apiMutation](viewer, "/api/v1/mutations?namespace="+ns))
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("open mutations %s: %v, want %v", when, got, want)
				return
			}
		}
	}
	waitOpen("after the move", []string{"tag-divergence  p1,p2,q1", "workload-divergence gamma w1,w2"})
	events := list[apiMutation](viewer, "/api/v1/mutations?state=closed&cluster=delta")
	if got := mutationSummary(events); !slices.Equal(got, []string{"pod-drift delta q1", "tag-moved delta q1"}) {
		t.Errorf("events in delta: %v", got)
	}
	for _, m := range events {
		if m.Kind == "tag-moved" && !slices.Equal(m.Digests, []string{apiDigestOf("a"), apiDigestOf("b")}) {
			t.Errorf("tag-moved digests: %v", m.Digests)
		}
	}
	var one apiMutation
	viewer.must(http.MethodGet, fmt.Sprintf("/api/v1/mutations/%d", open[0].ID), nil, http.StatusOK, &one)
	if one.ID != open[0].ID || one.Kind != open[0].Kind || one.ResolvedAt != nil {
		t.Errorf("mutation by id: %+v, want %+v", one, open[0])
	}

	// The timeline of the moved tag, asked for in its short spelling.
	var tl apiTimeline
	viewer.must(http.MethodGet, "/api/v1/images/timeline?ref=nginx:1.27", nil, http.StatusOK, &tl)
	if tl.Ref != "docker.io/library/nginx:1.27" || len(tl.Digests) != 2 {
		t.Fatalf("timeline: %+v", tl)
	}
	if a, b := tl.Digests[0], tl.Digests[1]; a.Digest != apiDigestOf("a") || b.Digest != apiDigestOf("b") ||
		!a.Running || !b.Running || a.Pods != 3 || b.Pods != 1 ||
		!slices.Equal(a.Clusters, []string{"delta", "gamma"}) || !slices.Equal(b.Clusters, []string{"delta"}) ||
		b.FirstSeen.Before(a.FirstSeen) || a.LastSeen.Before(a.FirstSeen) {
		t.Errorf("timeline digests: %+v", tl.Digests)
	}

	// Where does digest a run, and where did it run?
	var use apiDigest
	viewer.must(http.MethodGet, "/api/v1/digests/"+apiDigestOf("a"), nil, http.StatusOK, &use)
	if got := placeSummary(use.Running); !slices.Equal(got, []string{"gamma/api/p1", "gamma/api/p2"}) {
		t.Errorf("digest a runs in %v", got)
	}
	var ran []string
	for _, h := range use.History {
		if h.Namespace == ns {
			ran = append(ran, h.Cluster+"/"+h.Pod)
		}
	}
	slices.Sort(ran)
	if !slices.Equal(ran, []string{"delta/q1", "gamma/p1", "gamma/p2"}) {
		t.Errorf("digest a ran in %v", ran)
	}

	// Everything converges on b (and w2 on w1's digest): both conditions resolve.
	setImage(t, gamma, "p1", nginx+apiDigestOf("b"))
	setImage(t, gamma, "p2", nginx+apiDigestOf("b"))
	setImage(t, gamma, "w2", "registry.example.com/web@"+apiDigestOf("c"))
	ops.must(http.MethodPost, "/api/v1/clusters/gamma/scans", nil, http.StatusAccepted, nil)
	waitScan("gamma", g1.ID)
	waitOpen("after convergence", nil)
	closed := list[apiMutation](viewer, "/api/v1/mutations?state=closed&kind=workload-divergence&namespace="+ns)
	if len(closed) != 1 || closed[0].ResolvedAt == nil || !closed[0].ResolvedAt.After(closed[0].DetectedAt) {
		t.Errorf("resolved workload-divergence: %+v", closed)
	}
	var status apiCluster
	viewer.must(http.MethodGet, "/api/v1/clusters/gamma", nil, http.StatusOK, &status)
	if status.OpenMutations != 0 {
		t.Errorf("gamma still counts %d open mutations", status.OpenMutations)
	}

	// Deleting delta keeps its history; its credentials and schedule go.
	if code, _ := viewer.do(http.MethodDelete, "/api/v1/clusters/delta", nil); code != http.StatusForbidden {
		t.Errorf("a viewer deleted a cluster: %d", code)
	}
	ops.must(http.MethodDelete, "/api/v1/clusters/delta", nil, http.StatusNoContent, nil)
	ops.must(http.MethodGet, "/api/v1/clusters/delta", nil, http.StatusNotFound, nil)
	viewer.must(http.MethodGet, "/api/v1/digests/"+apiDigestOf("b"), nil, http.StatusOK, &use)
	found := false
	for _, h := range use.History {
		found = found || (h.Cluster == "delta" && h.Pod == "q1")
	}
	if !found {
		t.Errorf("delta's history of digest b is gone after a delete without purge: %+v", use.History)
	}

	// The audit trail says who did what.
	type auditEvent struct {
		Actor  string `json:"actor"`
		Action string `json:"action"`
		Target string `json:"target"`
	}
	viewer.must(http.MethodGet, "/api/v1/audit", nil, http.StatusForbidden, nil)
	var trail []string
	for _, e := range list[auditEvent](ops, "/api/v1/audit") {
		trail = append(trail, e.Actor+" "+e.Action+" "+e.Target)
	}
	slices.Reverse(trail) // oldest first
	want := []string{"admin-token token.create ops", "admin-token token.create reader", opsActor + " cluster.create gamma",
		opsActor + " cluster.create delta", opsActor + " scan.request delta", opsActor + " scan.request gamma", opsActor + " cluster.delete delta"}
	if !slices.Equal(trail, want) {
		t.Errorf("audit trail:\n%s\nwant\n%s", strings.Join(trail, "\n"), strings.Join(want, "\n"))
	}

	// No response and no log line ever held a cluster's credentials.
	for _, path := range []string{"/api/v1/clusters", "/api/v1/clusters/gamma", "/api/v1/audit", "/api/v1/tokens"} {
		_, b := ops.do(http.MethodGet, path, nil)
		for _, secret := range []string{gamma.AdminToken, delta.AdminToken} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s returns a cluster's token", path)
			}
		}
	}
	for _, secret := range []string{gamma.AdminToken, delta.AdminToken, admin, ops.token, viewer.token} {
		if strings.Contains(s.logs.String(), secret) {
			t.Error("a secret leaked into the service's logs")
		}
	}
}

// setImage plays the kubelet: pod name in the api namespace runs imageID.
func setImage(t *testing.T, c *kubeenv.Cluster, pod, imageID string) {
	t.Helper()
	if err := c.SetContainerStatuses(context.Background(), "api", pod, kubeenv.PodStatus{
		Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: imageID}}}); err != nil {
		t.Fatal(err)
	}
}

// mutationSummary renders mutations as "kind cluster pods", sorted.
func mutationSummary(ms []apiMutation) []string {
	var out []string
	for _, m := range ms {
		var pods []string
		for _, p := range m.Places {
			pods = append(pods, p.Pod)
		}
		slices.Sort(pods)
		out = append(out, m.Kind+" "+m.Cluster+" "+strings.Join(slices.Compact(pods), ","))
	}
	slices.Sort(out)
	return out
}

// placeSummary renders places as "cluster/namespace/pod", sorted.
func placeSummary(ps []placeJSON) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Cluster+"/"+p.Namespace+"/"+p.Pod)
	}
	slices.Sort(out)
	return out
}
