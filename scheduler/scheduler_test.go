package scheduler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// harness is a real PostgreSQL database and a real API server.
type harness struct {
	store   *store.Store
	cluster *kubeenv.Cluster
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, kubeenv.ClusterOptions{Name: "one"})
}

// newHarnessWith is a harness whose API server is started with co.
func newHarnessWith(t testing.TB, co kubeenv.ClusterOptions) *harness {
	t.Helper()
	st := newStore(t)
	env, err := kubeenv.Start(context.Background(), kubeenv.Options{Clusters: []kubeenv.ClusterOptions{co}})
	if err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			t.Skipf("no Kubernetes binaries (run make test): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop() })
	return &harness{store: st, cluster: env.Clusters[0]}
}

// newStore is a migrated database of the test's own.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, _ := storetest.New(t, "tagdrift_scheduler")
	return st
}

// credentials writes a kubeconfig for one context, vets it as the service does, and
// returns what the service stores.
func credentials(t testing.TB, kc kubeenv.Context) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(path, kc.Name, kc); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reduced, err := kubeconfig.Vet(raw, "", kubeconfig.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := json.Marshal(reduced)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// register stores a cluster reached at server with the admin token.
func (h *harness) register(t *testing.T, name, server string) store.Cluster {
	t.Helper()
	creds := credentials(t, kubeenv.Context{Name: name, Server: server, CAData: h.cluster.CAData, Token: h.cluster.AdminToken})
	c, err := h.store.CreateCluster(context.Background(), store.NewCluster{
		Name: name, Server: server, Context: name, Credentials: creds, ScanInterval: time.Hour, Enabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitScans waits until the cluster has n finished scans, and nothing is left queued
// for a recheck, and returns the latest.
func (h *harness) waitScans(t *testing.T, clusterID int64, n int) store.Scan {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		scans, err := h.store.ScansOfCluster(context.Background(), clusterID)
		if err != nil {
			t.Fatal(err)
		}
		finished := 0
		for _, s := range scans {
			if s.FinishedAt != nil {
				finished++
			}
		}
		queued, err := h.store.QueuedRechecks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if finished >= n && len(queued) == 0 {
			return scans[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Say what the job engine holds, to tell a lost job from a slow one.
	if client, err := river.NewClient(riverpgxv5.New(h.store.Pool()), &river.Config{}); err == nil {
		if res, err := client.JobList(context.Background(), river.NewJobListParams().Kinds("scan").First(100)); err == nil {
			for _, j := range res.Jobs {
				t.Logf("job %d %s %s scheduled %s attempt %d errors %v", j.ID, j.State, j.EncodedArgs,
					j.ScheduledAt.Format(time.RFC3339Nano), j.Attempt, j.Errors)
			}
		}
	}
	t.Fatalf("cluster %d: fewer than %d finished scans within a minute", clusterID, n)
	return store.Scan{}
}

// TestScanNowFollowsUnrecordedCompletion asks for scans while the cluster's jobs read
// running, as a job does between the end of its scan and River's asynchronous record of
// its completion (under load several can wait at once: CI saw a chain of five), each
// ask must leave a job that runs now, never merge into one that already listed.
func TestScanNowFollowsUnrecordedCompletion(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	c, err := st.CreateCluster(ctx, store.NewCluster{Name: "c", Server: "https://c.example:6443", Context: "c",
		Credentials: []byte(`{}`), ScanInterval: time.Hour, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Dialer: &kubeconfig.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	// River has no call that marks a job running without working it: this plays the
	// state a job is in between the end of its scan (which took the queued record) and
	// the record of its completion.
	scanned := func(id int64) {
		if _, err := st.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		scanID, err := st.StartScan(ctx, c.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// How it ended does not matter here: the record left the queue.
		if err := st.EndScan(ctx, scanID, store.ScanAborted, store.ScanError{Message: "test"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	driver := riverpgxv5.New(st.Pool())
	var expected []rivertest.ExpectedJob
	for round := range 8 {
		first, err := s.ScanNow(ctx, c.ID, store.Audit{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// A second ask before anything starts merges into the same job and record.
		second, err := s.ScanNow(ctx, c.ID, store.Audit{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if first != second {
			t.Errorf("round %d: two asks before a start queued scans %d and %d", round, first, second)
		}
		// Exactly one scan job more each round, available now; the earlier ones still
		// read running.
		expected = append(expected, rivertest.ExpectedJob{Args: ScanArgs{}, Opts: &rivertest.RequireInsertedOpts{
			Queue: scanQueue, State: rivertype.JobStateAvailable}})
		jobs := rivertest.RequireManyInserted(ctx, t, driver, expected)
		last := jobs[len(jobs)-1]
		var args ScanArgs
		if err := json.Unmarshal(last.EncodedArgs, &args); err != nil || args.ClusterID != c.ID {
			t.Fatalf("round %d: job args %s, %v", round, last.EncodedArgs, err)
		}
		if round > 0 && args.Scan != first {
			t.Errorf("round %d: follow-up of scan %d, want of the queued %d", round, args.Scan, first)
		}
		scanned(last.ID)
		expected[len(expected)-1].Opts.State = rivertype.JobStateRunning
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestScheduler(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		_, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)}}}); err != nil {
			t.Fatal(err)
		}
	}

	// w1 and w2: pods of one ReplicaSet revision on two digests of one tag.
	yes := true
	for i, name := range []string{"w1", "w2"} {
		_, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "00000000-0000-0000-0000-00000000000a", Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "shop", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: "registry.example.com/web@sha256:" + strings.Repeat(string(rune('c'+i)), 64)}}}); err != nil {
			t.Fatal(err)
		}
	}

	good := h.register(t, "good", c.Host)
	down := h.register(t, "down", "https://"+closedPort(t))
	allowLoopback := &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	s, err := New(Config{Store: h.store, Dialer: allowLoopback, ScanTimeout: 20 * time.Second, Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)

	first := h.waitScans(t, good.ID, 1)
	if first.Status != store.ScanSucceeded || first.Pods != 4 || first.Opened != 4 {
		t.Fatalf("first scan: %+v", first)
	}
	if sc := h.waitScans(t, down.ID, 1); sc.Status != store.ScanFailed || sc.ErrorClass != "unreachable" || !strings.Contains(sc.Error, "refused the connection") {
		t.Errorf("unreachable cluster: %+v", sc)
	}

	// Pod b restarted onto a moved tag; ask for a scan now (one is scheduled an hour on).
	if err := c.SetContainerStatuses(ctx, "shop", "b", kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
		{Name: "app", ImageID: "docker.io/library/nginx@sha256:" + strings.Repeat("b", 64)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScanNow(ctx, good.ID, store.Audit{}); err != nil {
		t.Fatal(err)
	}

	second := h.waitScans(t, good.ID, 2)
	if second.Status != store.ScanSucceeded || second.Opened != 1 || second.Closed != 1 {
		t.Fatalf("second scan: %+v", second)
	}
	obs, err := h.store.ObservationsOfCluster(ctx, good.ID)
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for _, o := range obs {
		if o.ClosedAt == nil {
			open++
		}
	}
	if len(obs) != 5 || open != 4 {
		t.Errorf("observations: %d rows, %d open; want 5 and 4", len(obs), open)
	}
	kinds := func() map[string]string {
		ms, err := h.store.ListMutations(ctx, store.MutationFilter{State: store.StateAll, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range ms {
			state := "open"
			if m.ResolvedAt != nil {
				state = "closed"
			}
			out[string(m.Kind)+" "+strings.Join(podsOf(m), ",")] = state
		}
		return out
	}
	// Pods a and b, bare, now run two digests of one tag: a tag-divergence; b drifted; the
	// tag moved.
	want := map[string]string{"tag-divergence a,b": "open", "pod-drift b": "closed", "tag-moved b": "closed",
		"workload-divergence w1,w2": "open"}
	// Detection runs after the scan's record is finished: wait for it.
	waitKinds := func(what string, want map[string]string) {
		t.Helper()
		got := kinds()
		for deadline := time.Now().Add(10 * time.Second); fmt.Sprint(got) != fmt.Sprint(want) && time.Now().Before(deadline); got = kinds() {
			time.Sleep(50 * time.Millisecond)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("mutations %s: %v, want %v", what, got, want)
		}
	}
	waitKinds("after the move", want)
	// The scan has the workloads behind their tags judged, not the next page.
	judged := false
	for deadline := time.Now().Add(10 * time.Second); !judged && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if judged, err = h.store.BehindJudged(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !judged {
		t.Error("after the scan that moved the tag, the workloads behind it are not judged")
	}
	// A change this scheduler did not make (another replica's): judged within seconds.
	if _, err := h.store.Pool().Exec(ctx, `UPDATE data_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "behind judged after another replica's change", func() bool {
		judged, err := h.store.BehindJudged(ctx)
		return err == nil && judged
	})
	// What the open-mutations gauge reports (server/metrics reads it).
	if counts, err := h.store.OpenMutationCounts(ctx, store.Scope{}); err != nil ||
		fmt.Sprint(counts) != "[{tag-divergence good default open 1} {workload-divergence good default open 1}]" {
		t.Errorf("open mutation counts: %v, %v", counts, err)
	}

	// Pod a follows, and w2 converges on w1's digest: both divergences resolve, a and w2
	// drifted, no tag moved again.
	if err := c.SetContainerStatuses(ctx, "shop", "a", kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
		{Name: "app", ImageID: "docker.io/library/nginx@sha256:" + strings.Repeat("b", 64)}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetContainerStatuses(ctx, "shop", "w2", kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
		{Name: "app", ImageID: "registry.example.com/web@sha256:" + strings.Repeat("c", 64)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScanNow(ctx, good.ID, store.Audit{}); err != nil {
		t.Fatal(err)
	}
	h.waitScans(t, good.ID, 3)
	want = map[string]string{"tag-divergence a,b": "closed", "pod-drift b": "closed", "pod-drift a": "closed", "tag-moved b": "closed",
		"workload-divergence w1,w2": "closed", "pod-drift w2": "closed"}
	waitKinds("after convergence", want)

	// Nothing changed: no observation row, no mutation written.
	if _, err := s.ScanNow(ctx, good.ID, store.Audit{}); err != nil {
		t.Fatal(err)
	}
	last := h.waitScans(t, good.ID, 4)
	if last.Status != store.ScanSucceeded || last.Opened != 0 || last.Closed != 0 {
		t.Errorf("steady scan: %+v", last)
	}
	if again, _ := h.store.ObservationsOfCluster(ctx, good.ID); len(again) != 7 {
		t.Errorf("observations after a steady scan: %d, want 7", len(again))
	}
	if got := kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mutations after a steady scan: %v, want %v", got, want)
	}
}

func podsOf(m store.Mutation) []string {
	var pods []string
	for _, p := range m.Places {
		pods = append(pods, p.Pod)
	}
	slices.Sort(pods)
	return pods
}

func TestSchedulerRefusesInternalAddresses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	refused := h.register(t, "refused", strings.Replace(h.cluster.Host, "127.0.0.1", "localhost", 1))
	s, err := New(Config{Store: h.store, Dialer: &kubeconfig.Dialer{}, ScanTimeout: 20 * time.Second, Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	sc := h.waitScans(t, refused.ID, 1)
	if sc.Status != store.ScanFailed || !strings.Contains(sc.Error, "internal") {
		t.Errorf("scan of a loopback cluster without --allow-cluster-network: %+v", sc)
	}
}

// TestScanCutOffClosesNothing puts a proxy before the API server that, once told to,
// breaks the pod list after the owners were listed: the scan is recorded failed, and
// every interval the last complete scan opened stays open.
func TestScanCutOffClosesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "a"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetContainerStatuses(ctx, "shop", "a", kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
		{Name: "app", ImageID: "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)}}}); err != nil {
		t.Fatal(err)
	}

	var cut atomic.Bool
	target, _ := url.Parse(c.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, c.CAData)}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut.Load() && r.URL.Path == "/api/v1/pods" {
			// Hang up mid-response, as a dropped connection would.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	creds := credentials(t, kubeenv.Context{Name: "cut", Server: srv.URL, CAData: ca, Token: c.AdminToken})
	cl, err := h.store.CreateCluster(ctx, store.NewCluster{Name: "cut", Server: srv.URL, Context: "cut", Credentials: creds, ScanInterval: time.Hour, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}

	s, err := New(Config{Store: h.store, Dialer: &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		ScanTimeout: 20 * time.Second, Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	if first := h.waitScans(t, cl.ID, 1); first.Status != store.ScanSucceeded || first.Opened != 1 {
		t.Fatalf("first scan: %+v", first)
	}

	cut.Store(true)
	s.ScanNow(ctx, cl.ID, store.Audit{})
	if sc := h.waitScans(t, cl.ID, 2); sc.Status != store.ScanFailed || sc.Closed != 0 || !strings.Contains(sc.Error, "list pods") {
		t.Errorf("cut-off scan: %+v", sc)
	}
	obs, err := h.store.ObservationsOfCluster(ctx, cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 || obs[0].ClosedAt != nil {
		t.Errorf("a cut-off scan closed history: %+v", obs)
	}
}

func certPool(t *testing.T, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("bad CA")
	}
	return p
}

// recheckFixture is three clusters scanned through the store's write path (no
// Kubernetes: the tests here are about what happens after a listing), disabled so that
// a started scheduler does not scan them itself.
type recheckFixture struct {
	t   *testing.T
	st  *store.Store
	s   *Scheduler
	ids map[string]int64
}

func newRecheckFixture(t *testing.T, cfg Config) *recheckFixture {
	t.Helper()
	st := newStore(t)
	cfg.Store, cfg.Dialer = st, &kubeconfig.Dialer{}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &recheckFixture{t: t, st: st, s: s, ids: map[string]int64{}}
	for _, name := range []string{"one", "two", "three"} {
		c, err := st.CreateCluster(context.Background(), store.NewCluster{Name: name, Server: "https://" + name + ".example",
			Context: name, Credentials: []byte(`{}`), ScanInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[name] = c.ID
	}
	return f
}

// complete records a complete listing of a cluster, as a scan does before its recheck.
func (f *recheckFixture) complete(cluster string, pods ...inventory.Pod) {
	f.t.Helper()
	ctx := context.Background()
	scanID, err := f.st.StartScan(ctx, f.ids[cluster], time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.CompleteScan(ctx, scanID, pods, len(pods), time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

// open renders the open mutations as "kind ref cluster/pod,...", sorted.
func (f *recheckFixture) open() []string {
	f.t.Helper()
	ms, err := f.st.ListMutations(context.Background(), store.MutationFilter{State: store.StateOpen})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		var places []string
		for _, p := range m.Places {
			places = append(places, p.Cluster+"/"+p.Pod)
		}
		slices.Sort(places)
		out = append(out, fmt.Sprintf("%s %s %s", m.Kind, m.Ref, strings.Join(places, ",")))
	}
	slices.Sort(out)
	return out
}

func (f *recheckFixture) queued() []string {
	f.t.Helper()
	refs, err := f.st.QueuedRechecks(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return refs
}

// start starts the scheduler, stopped when the test ends.
func (f *recheckFixture) start() {
	f.t.Helper()
	if err := f.s.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.s.Stop(ctx)
	})
}

// eventually polls cond until it holds, for at most 30 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appPod is a pod of cluster running image at the repository digest letter l; rs, when
// given, is its ReplicaSet.
func appPod(cluster, name, image, l, rs string) inventory.Pod {
	ref := imageref.ParseRef(image)
	id, _ := imageref.ParseImageID("docker.io/library/app@sha256:" + strings.Repeat(l, 64))
	p := inventory.Pod{Cluster: cluster, Namespace: "ns", Name: name, UID: types.UID(cluster + "-" + name),
		Workload:   inventory.Workload{Kind: "Pod", Name: name},
		Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}}}
	if rs != "" {
		p.Workload = inventory.Workload{Kind: "ReplicaSet", Name: rs}
		p.Controller = inventory.Controller{Kind: "ReplicaSet", Name: rs, UID: types.UID(cluster + "-" + rs), Revision: "1"}
	}
	return p
}

// TestDeletedClusterRechecked deletes a cluster and rechecks what it bore on: its own
// workload-divergence resolves with the delete, a tag-divergence only it caused
// resolves, and one that still holds among the clusters left stays open without the
// deleted cluster's places.
func TestDeletedClusterRechecked(t *testing.T) {
	f := newRecheckFixture(t, Config{})
	ctx := context.Background()
	// one: alone on digest a of app:1 (the others run b), and two pods of one
	// ReplicaSet on two digests of app:3.
	f.complete("one", appPod("one", "p", "app:1", "a", ""), appPod("one", "q", "app:2", "a", ""),
		appPod("one", "w1", "app:3", "c", "web"), appPod("one", "w2", "app:3", "d", "web"))
	f.complete("two", appPod("two", "p", "app:1", "b", ""), appPod("two", "q", "app:2", "b", ""))
	f.complete("three", appPod("three", "p", "app:1", "b", ""), appPod("three", "q", "app:2", "e", ""))
	if _, err := f.s.recheck(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tag-divergence docker.io/library/app:1 one/p,three/p,two/p",
		"tag-divergence docker.io/library/app:2 one/q,three/q,two/q",
		"workload-divergence docker.io/library/app:3 one/w1,one/w2",
	}
	if got := f.open(); !slices.Equal(got, want) {
		t.Fatalf("open before the delete:\n%v\nwant\n%v", got, want)
	}

	if _, err := f.st.DeleteCluster(ctx, "one", false, store.Audit{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	// The delete resolved one's own condition and queued what it ran.
	if got := f.open(); len(got) != 2 || slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "workload") }) {
		t.Errorf("open right after the delete: %v", got)
	}
	if got, want := f.queued(), []string{"docker.io/library/app:1", "docker.io/library/app:2", "docker.io/library/app:3"}; !slices.Equal(got, want) {
		t.Errorf("queued by the delete: %v, want %v", got, want)
	}
	if _, err := f.s.recheck(ctx); err != nil {
		t.Fatal(err)
	}
	want = []string{"tag-divergence docker.io/library/app:2 three/q,two/q"}
	if got := f.open(); !slices.Equal(got, want) {
		t.Errorf("open after deleting one:\n%v\nwant\n%v", got, want)
	}
	if got := f.queued(); len(got) != 0 {
		t.Errorf("still queued: %v", got)
	}
}

// TestRecheckFailsOnce makes the recheck after a scan fail once (the database refuses
// its first removal from the queue): the tag-divergence the scan settled is still open
// and its reference still queued; the next pass, the scheduler's tick, resolves it.
func TestRecheckFailsOnce(t *testing.T) {
	f := newRecheckFixture(t, Config{Tick: 100 * time.Millisecond})
	ctx := context.Background()
	f.complete("one", appPod("one", "p", "app:1", "a", ""))
	f.complete("two", appPod("two", "p", "app:1", "b", ""))
	if _, err := f.s.recheck(ctx); err != nil {
		t.Fatal(err)
	}
	diverging := []string{"tag-divergence docker.io/library/app:1 one/p,two/p"}
	if got := f.open(); !slices.Equal(got, diverging) {
		t.Fatalf("open: %v, want %v", got, diverging)
	}

	if _, err := f.st.Pool().Exec(ctx, `
		CREATE SEQUENCE recheck_removals;
		CREATE FUNCTION fail_first_removal() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('recheck_removals') = 1 THEN
				RAISE EXCEPTION 'injected failure';
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER fail_first_removal BEFORE DELETE ON rechecks
			FOR EACH STATEMENT EXECUTE FUNCTION fail_first_removal();`); err != nil {
		t.Fatal(err)
	}
	// one follows two: the tag no longer diverges.
	f.complete("one", appPod("one", "p", "app:1", "b", ""))
	if _, err := f.s.recheck(ctx); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("recheck: %v, want the injected failure", err)
	}
	if got := f.open(); !slices.Equal(got, diverging) {
		t.Errorf("open after the failed recheck: %v, want it unchanged %v", got, diverging)
	}
	if got := f.queued(); !slices.Equal(got, []string{"docker.io/library/app:1"}) {
		t.Errorf("queued after the failed recheck: %v", got)
	}

	f.start()
	eventually(t, "the tag-divergence resolves", func() bool { return len(f.open()) == 0 && len(f.queued()) == 0 })
	var removals int64
	if err := f.st.Pool().QueryRow(ctx, `SELECT last_value FROM recheck_removals`).Scan(&removals); err != nil || removals < 2 {
		t.Errorf("removals tried: %d, %v; want the failed one and more", removals, err)
	}
}

// TestRecheckAfterCrash leaves what two scans queued un-rechecked, as a process killed
// between CompleteScan and its recheck does: nothing is detected yet, and a scheduler
// started afterwards works it off.
func TestRecheckAfterCrash(t *testing.T) {
	f := newRecheckFixture(t, Config{Tick: 100 * time.Millisecond})
	f.complete("one", appPod("one", "p", "app:1", "a", ""), appPod("one", "w1", "app:3", "c", "web"), appPod("one", "w2", "app:3", "d", "web"))
	f.complete("two", appPod("two", "p", "app:1", "b", ""))
	// The scan's transaction settled the cluster's own condition; the tag-divergence
	// waits in the queue.
	if got, want := f.open(), []string{"workload-divergence docker.io/library/app:3 one/w1,one/w2"}; !slices.Equal(got, want) {
		t.Errorf("open before any recheck: %v, want %v", got, want)
	}
	if got, want := f.queued(), []string{"docker.io/library/app:1", "docker.io/library/app:3"}; !slices.Equal(got, want) {
		t.Errorf("queued: %v, want %v", got, want)
	}
	f.start()
	want := []string{"tag-divergence docker.io/library/app:1 one/p,two/p", "workload-divergence docker.io/library/app:3 one/w1,one/w2"}
	eventually(t, "the queue is worked off", func() bool { return len(f.queued()) == 0 })
	if got := f.open(); !slices.Equal(got, want) {
		t.Errorf("open after the restart: %v, want %v", got, want)
	}
}
