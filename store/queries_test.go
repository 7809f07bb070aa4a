package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

var admin = Audit{Actor: "token:ops", RemoteAddr: "192.0.2.7:4242"}

// fleet drives the real write path as the scheduler does: a scan records a listing,
// then the references it queued are rechecked.
type fleet struct {
	t *testing.T
	s *Store
}

func (f fleet) scan(c Cluster, at time.Time, pods ...inventory.Pod) ScanCounts {
	f.t.Helper()
	ctx := context.Background()
	for i := range pods {
		pods[i].Cluster = c.Name
	}
	id, err := f.s.StartScan(ctx, c.ID, at)
	if err != nil {
		f.t.Fatal(err)
	}
	counts, err := f.s.CompleteScan(ctx, id, pods, len(pods), at.Add(time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	f.recheck(at.Add(time.Second))
	return counts
}

// recheck works off the queued references.
func (f fleet) recheck(at time.Time) {
	f.t.Helper()
	for {
		r, err := f.s.RecheckRefs(context.Background(), 100, at)
		if err != nil {
			f.t.Fatal(err)
		}
		if r.Refs == 0 {
			return
		}
	}
}

// wpod is a pod of a Deployment's ReplicaSet (revision 1) with one container per image
// given as "container=image@imageID" (imageID may be a bare digest letter for nginx).
// register registers an enabled cluster name in group ("" for the default group),
// with credentials no test reads.
func (f fleet) register(name, group string) Cluster {
	f.t.Helper()
	c, err := f.s.RegisterCluster(context.Background(), NewCluster{Name: name, Server: "https://" + name + ":6443", Context: name,
		Credentials: []byte(`{}`), Enabled: true, Group: group}, Audit{Actor: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func wpod(ns, workload, name, uid string, containers ...string) inventory.Pod {
	p := inventory.Pod{Namespace: ns, Name: name, UID: types.UID(uid), Node: "node-1", Arch: "amd64",
		Workload:   inventory.Workload{Kind: "Deployment", Name: workload},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: workload + "-1", UID: types.UID("rs-" + ns + "-" + workload), Revision: "1"}}
	for _, c := range containers {
		name, rest, _ := strings.Cut(c, "=")
		image, id, _ := strings.Cut(rest, "|")
		typ := inventory.Regular
		if n, ok := strings.CutPrefix(name, "init:"); ok {
			name, typ = n, inventory.Init
		}
		ref := imageref.ParseRef(image)
		pc := inventory.Container{Name: name, Type: typ, Ref: &ref}
		if parsed, ok := imageref.ParseImageID(id); ok {
			pc.ID = &parsed
		}
		p.Containers = append(p.Containers, pc)
	}
	return p
}

func nginx(letter string) string { return "web=nginx:1.25|" + digest(letter) }

func sha(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }

const nginxRef = "docker.io/library/nginx:1.25"

// TestClusterLifecycle registers two clusters, scans them while nginx:1.25 moves, and
// follows the statuses, mutations, timeline and digest look-up through an update, a
// delete that keeps the history and a purge.
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	register := func(name string) Cluster {
		t.Helper()
		c, err := s.RegisterCluster(ctx, NewCluster{Name: name, Server: "https://" + name + ":6443", Context: name,
			Credentials: []byte(`{"token":"secret-` + name + `"}`), Enabled: true}, admin)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	prod, stage := register("prod"), register("stage")
	if _, err := s.RegisterCluster(ctx, NewCluster{Name: "prod", Server: "x", Context: "x", Credentials: []byte("x")}, admin); !errors.Is(err, ErrConflict) {
		t.Errorf("a second prod: %v, want ErrConflict", err)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(5*time.Minute), t0.Add(10*time.Minute)

	// Never scanned: no last scan. A queued scan counts as the last one.
	st, err := s.ClusterStatusByName(ctx, "prod", Scope{})
	if err != nil || st.LastScan != nil || st.OpenMutations != 0 || st.Cluster != prod {
		t.Fatalf("fresh prod: %+v, %v", st, err)
	}
	queued, _, err := s.QueueScan(ctx, stage.ID, t0.Add(-time.Minute), Audit{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := s.ClusterStatusByName(ctx, "stage", Scope{}); err != nil || st.LastScan == nil || st.LastScan.ID != queued || st.LastScan.Status != ScanQueued {
		t.Fatalf("stage with a queued scan: %+v, %v", st, err)
	}

	// t0: both clusters run nginx:1.25 at A. t1: a restart pulls B into prod's web-2, and
	// a new workload, cron, runs B: three revisions that disagree.
	f.scan(prod, t0, wpod("shop", "web", "web-1", "p1", nginx("a")), wpod("shop", "web", "web-2", "p2", nginx("a")),
		wpod("shop", "api", "api-1", "p3", "app=registry.example/api:v1|registry.example/api@"+sha("c")))
	f.scan(stage, t0, wpod("shop", "web", "sweb-1", "s1", nginx("a")))
	f.scan(prod, t1, wpod("shop", "web", "web-1", "p1", nginx("a")), wpod("shop", "web", "web-2", "p2", nginx("b")),
		wpod("shop", "api", "api-1", "p3", "app=registry.example/api:v1|registry.example/api@"+sha("c")),
		wpod("shop", "cron", "cron-1", "p5", nginx("b")))

	open, err := s.ListMutations(ctx, MutationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(ms []Mutation) []string {
		var out []string
		for _, m := range ms {
			out = append(out, string(m.Kind)+"@"+m.Cluster)
		}
		return out
	}
	// Newest first: the scan stored the workload-divergence, then the recheck of the
	// references it queued the tag-divergence across clusters (which has no cluster of
	// its own).
	if got, want := kinds(open), []string{"tag-divergence@", "workload-divergence@prod"}; !slices.Equal(got, want) {
		t.Fatalf("open mutations: %v, want %v", got, want)
	}

	statuses, err := s.ClusterStatuses(ctx, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0].Name != "prod" || statuses[1].Name != "stage" {
		t.Fatalf("statuses: %+v", statuses)
	}
	if p := statuses[0]; p.OpenMutations != 2 || p.LastScan == nil || p.LastScan.Status != ScanSucceeded ||
		!p.LastScan.StartedAt.Equal(t1) || p.LastScan.ClusterID != prod.ID || p.LastScan.Pods != 4 || p.LastScan.Opened != 2 || p.LastScan.Closed != 1 {
		t.Errorf("prod status: %+v, last scan %+v", p, p.LastScan)
	}
	if st := statuses[1]; st.OpenMutations != 1 || st.LastScan == nil || st.LastScan.ID != queued || st.LastScan.Status != ScanSucceeded {
		t.Errorf("stage status (the queued scan ran): %+v, last scan %+v", st, st.LastScan)
	}

	// The mutation filters.
	all, err := s.ListMutations(ctx, MutationFilter{State: StateAll})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(all), []string{"tag-divergence@", "workload-divergence@prod", "tag-moved@prod", "pod-drift@prod"}; !slices.Equal(
		sorted(got), sorted(want)) {
		t.Fatalf("all mutations: %v, want %v", got, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Errorf("not newest first: %v", all)
		}
	}
	for _, tc := range []struct {
		name string
		f    MutationFilter
		want []string
	}{
		{"open in stage, through a place", MutationFilter{Cluster: "stage"}, []string{"tag-divergence@"}},
		{"open in prod", MutationFilter{Cluster: "prod"}, []string{"tag-divergence@", "workload-divergence@prod"}},
		{"open in shop of stage", MutationFilter{Cluster: "stage", Namespace: "shop"}, []string{"tag-divergence@"}},
		{"open in another namespace", MutationFilter{Namespace: "other"}, nil},
		{"open of a kind", MutationFilter{Kind: "workload-divergence"}, []string{"workload-divergence@prod"}},
		{"closed: the events", MutationFilter{State: StateClosed}, []string{"pod-drift@prod", "tag-moved@prod"}},
		{"closed in stage", MutationFilter{State: StateClosed, Cluster: "stage"}, nil},
		{"all pod-drifts", MutationFilter{State: StateAll, Kind: "pod-drift"}, []string{"pod-drift@prod"}},
		{"a page of one", MutationFilter{State: StateAll, Limit: 1}, kinds(all[:1])},
		{"before the newest", MutationFilter{State: StateAll, BeforeID: all[0].ID}, kinds(all[1:])},
	} {
		got, err := s.ListMutations(ctx, tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if g := kinds(got); !slices.Equal(sorted(g), sorted(tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, g, tc.want)
		}
	}
	if _, err := s.ListMutations(ctx, MutationFilter{State: "maybe"}); err == nil {
		t.Error("unknown state: no error")
	}
	m, err := s.MutationByID(ctx, open[0].ID, Scope{})
	if err != nil || !reflect.DeepEqual(m, open[0]) {
		t.Errorf("MutationByID = %+v, %v, want %+v", m, err, open[0])
	}
	if len(m.Places) != 4 || m.Ref != nginxRef || !slices.Equal(m.Digests, []string{sha("a"), sha("b")}) || m.ResolvedAt != nil {
		t.Errorf("tag-divergence: %+v", m)
	}

	// The workloads: prod's web is a place of both open mutations, cron and stage's web
	// of the tag-divergence, api of none.
	ws, err := s.ListWorkloads(ctx, WorkloadFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := workloadNames(ws), []string{"prod/shop/api", "prod/shop/cron*", "prod/shop/web*", "stage/shop/web*"}; !slices.Equal(got, want) {
		t.Fatalf("workloads: %v, want %v", got, want)
	}
	if got := ws[2].Running; len(got) != 2 || got[0].Pod != "web-1" || got[0].Digest != sha("a") ||
		got[1].Pod != "web-2" || got[1].Digest != sha("b") || got[1].Container != "web" || got[1].Image != "nginx:1.25" ||
		got[1].Ref != nginxRef || got[1].Pinned || got[1].Kind != imageref.KindRepo || got[1].ImageID != digest("b") ||
		got[1].PodUID != "p2" || got[1].Type != inventory.Regular {
		t.Errorf("prod web containers: %+v", got)
	}
	mutants, err := s.ListWorkloads(ctx, WorkloadFilter{MutantOnly: true})
	if err != nil || !slices.Equal(workloadNames(mutants), []string{"prod/shop/cron*", "prod/shop/web*", "stage/shop/web*"}) ||
		!reflect.DeepEqual(mutants[1], ws[2]) {
		t.Errorf("mutant workloads: %v, %v", workloadNames(mutants), err)
	}

	// The timeline of the tag that moved, and where A runs.
	tl, _, err := s.Timeline(ctx, nginxRef, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	wantTL := []TimelineDigest{
		{Digest: sha("a"), FirstSeen: t0, LastSeen: t1, Running: true, Clusters: []string{"prod", "stage"}, Pods: 3},
		{Digest: sha("b"), FirstSeen: t1, LastSeen: t1, Running: true, Clusters: []string{"prod"}, Pods: 2},
	}
	assertTimeline(t, "after t1", tl, wantTL)
	if tl, _, err := s.Timeline(ctx, "docker.io/library/never:seen", Scope{}); err != nil || tl == nil || len(tl) != 0 {
		t.Errorf("timeline of an unknown reference: %#v, %v, want an empty slice", tl, err)
	}
	use, err := s.DigestUses(ctx, sha("a"), HistoryPage{})
	if err != nil {
		t.Fatal(err)
	}
	place := func(cluster, pod string) detect.Place {
		return detect.Place{Cluster: cluster, Namespace: "shop", Workload: inventory.Workload{Kind: "Deployment", Name: "web"},
			Pod: pod, Container: "web", Digest: sha("a")}
	}
	if want := []detect.Place{place("prod", "web-1"), place("stage", "sweb-1")}; !reflect.DeepEqual(use.Running, want) {
		t.Errorf("A runs at %+v, want %+v", use.Running, want)
	}
	// Newest first: all began at t0, so by id: stage's sweb-1, then prod's web-2 (closed
	// at t1, last seen at t0) and web-1 (open, last seen by prod's scan at t1).
	wantHistory := []DigestPlace{
		{Place: place("stage", "sweb-1"), FirstSeen: t0, LastSeen: t0},
		{Place: place("prod", "web-2"), FirstSeen: t0, LastSeen: t0},
		{Place: place("prod", "web-1"), FirstSeen: t0, LastSeen: t1},
	}
	assertHistory(t, "A", use, wantHistory)

	// An update: fields, credentials re-sealed, the audit trail without the secret.
	interval, annotate, server := time.Minute, "on", "https://prod-2:6443"
	up, err := s.UpdateCluster(ctx, "prod", ClusterChange{Server: &server, ScanInterval: &interval, Annotate: &annotate,
		Credentials: []byte(`{"token":"rotated-secret"}`)}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if up.Server != server || up.ScanInterval != interval || up.Annotate != "on" || up.Context != "prod" || !up.Enabled || up.ID != prod.ID {
		t.Errorf("updated prod: %+v", up)
	}
	if creds, err := s.Credentials(ctx, prod.ID); err != nil || string(creds) != `{"token":"rotated-secret"}` {
		t.Errorf("credentials after the update: %q, %v", creds, err)
	}
	if err := s.CheckCredentials(ctx); err != nil {
		t.Error(err)
	}
	disabled := false
	if up, err := s.UpdateCluster(ctx, "prod", ClusterChange{Enabled: &disabled, Server: &server}, admin); err != nil || up.Enabled {
		t.Errorf("disable prod: %+v, %v", up, err)
	}
	tooShort := time.Second
	if _, err := s.UpdateCluster(ctx, "prod", ClusterChange{ScanInterval: &tooShort}, admin); err == nil {
		t.Error("a 1s interval: no error")
	}
	if c, _ := s.ClusterByName(ctx, "prod"); c.Server != server || c.ScanInterval != interval {
		t.Errorf("a refused update changed prod: %+v", c)
	}
	if _, err := s.UpdateCluster(ctx, "nope", ClusterChange{Enabled: &disabled}, admin); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown cluster: %v", err)
	}
	events, err := s.AuditEvents(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("audit events: %+v", events)
	}
	if e := events[0]; e.Action != ActionClusterUpdate || e.Target != "prod" || !reflect.DeepEqual(e.Detail, map[string]any{
		"fields": []any{"enabled"}, "enabled": false}) {
		t.Errorf("second update: %+v", e)
	}
	if e := events[1]; e.Action != ActionClusterUpdate || e.Actor != admin.Actor || e.RemoteAddr != admin.RemoteAddr || !reflect.DeepEqual(e.Detail, map[string]any{
		"fields": []any{"server", "scanInterval", "annotate", "credentials"}, "server": server, "scanInterval": "1m0s", "annotate": "on"}) {
		t.Errorf("first update: %+v", e)
	}
	if e := events[3]; e.Action != ActionClusterCreate || e.Target != "prod" || !reflect.DeepEqual(e.Detail, map[string]any{
		"server": "https://prod:6443", "context": "prod", "scanInterval": "5m0s", "annotate": "off", "enabled": true}) {
		t.Errorf("registration: %+v", e)
	}
	for _, e := range events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "secret") || strings.Contains(string(b), "token\"") {
			t.Errorf("an audit event holds a secret: %s", b)
		}
	}

	// A scan of stage is running when stage is deleted without purge.
	running, err := s.StartScan(ctx, stage.ID, t2)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := s.DeleteCluster(ctx, "stage", false, admin)
	if err != nil {
		t.Fatal(err)
	}
	if deleted.ID != stage.ID || !slices.Equal(deleted.Refs, []string{nginxRef}) {
		t.Errorf("deleted stage: %+v, want its id and the references it ran", deleted)
	}
	if _, err := s.CompleteScan(ctx, running, []inventory.Pod{wpod("shop", "web", "sweb-9", "s9", nginx("a"))}, 1, t2); err == nil {
		t.Error("a scan of a deleted cluster completed")
	}
	if sc, err := s.ScanRecordByID(ctx, running, Scope{}); err != nil || sc.Status != ScanAborted || sc.Cluster != "stage" || sc.Error != "cluster deleted" {
		t.Errorf("the scan running at deletion: %+v, %v", sc, err)
	}
	for name, err := range map[string]error{
		"Credentials":   second(s.Credentials(ctx, stage.ID)),
		"ClusterByID":   second(s.ClusterByID(ctx, stage.ID)),
		"ClusterByName": second(s.ClusterByName(ctx, "stage")),
		"status":        second(s.ClusterStatusByName(ctx, "stage", Scope{})),
		"delete again":  second(s.DeleteCluster(ctx, "stage", false, admin)),
		"update":        second(s.UpdateCluster(ctx, "stage", ClusterChange{Enabled: &disabled}, admin)),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of the deleted stage: %v, want ErrNotFound", name, err)
		}
	}
	if err := s.CheckCredentials(ctx); err != nil {
		t.Errorf("CheckCredentials with a deleted cluster: %v", err)
	}
	if n, err := s.RotateKeys(ctx, 10); err != nil || n != 0 {
		t.Errorf("RotateKeys with a deleted cluster: %d, %v", n, err)
	}
	sched, err := s.ScanSchedule(ctx)
	if err != nil || len(sched) != 0 { // prod was disabled above
		t.Errorf("schedule: %+v, %v", sched, err)
	}
	stage2 := register("stage") // the name is free again
	if stage2.ID == stage.ID {
		t.Fatal("the new stage reuses the old id")
	}
	if cs, err := s.Clusters(ctx); err != nil || len(cs) != 2 || cs[1] != stage2 {
		t.Errorf("clusters after deleting stage: %+v, %v", cs, err)
	}
	ws, err = s.ListWorkloads(ctx, WorkloadFilter{})
	if err != nil || !slices.Equal(workloadNames(ws), []string{"prod/shop/api", "prod/shop/cron*", "prod/shop/web*"}) {
		t.Errorf("workloads after deleting stage: %v, %v", workloadNames(ws), err)
	}
	if ws, err := s.ListWorkloads(ctx, WorkloadFilter{Cluster: "stage"}); err != nil || len(ws) != 0 || ws == nil {
		t.Errorf("workloads of the new stage: %#v, %v", ws, err)
	}
	if ms, err := s.ListMutations(ctx, MutationFilter{Cluster: "stage"}); err != nil || !slices.Equal(kinds(ms), []string{"tag-divergence@"}) {
		t.Errorf("stage's mutations after its deletion: %v, %v", kinds(ms), err)
	}
	scans, err := s.ListScans(ctx, ScanFilter{Cluster: "stage"})
	if err != nil || len(scans) != 2 || scans[0].ID != running || scans[1].ID != queued || scans[1].Cluster != "stage" || scans[1].ClusterID != stage.ID {
		t.Errorf("stage's scans after its deletion: %+v, %v", scans, err)
	}
	tl, _, err = s.Timeline(ctx, nginxRef, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	// A deleted cluster leaves the timeline: stage's pod of A counts no more.
	assertTimeline(t, "after deleting stage", tl, []TimelineDigest{
		{Digest: sha("a"), FirstSeen: t0, LastSeen: t1, Running: true, Clusters: []string{"prod"}, Pods: 2},
		{Digest: sha("b"), FirstSeen: t1, LastSeen: t1, Running: true, Clusters: []string{"prod"}, Pods: 2},
	})
	use, err = s.DigestUses(ctx, sha("a"), HistoryPage{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []detect.Place{place("prod", "web-1")}; !reflect.DeepEqual(use.Running, want) {
		t.Errorf("after deleting stage, A runs at %+v, want %+v", use.Running, want)
	}
	assertHistory(t, "A after deleting stage", use, wantHistory)

	// t2: the tag settles on B in prod: A runs no more, its last sighting was at t1.
	f.scan(prod, t2, wpod("shop", "web", "web-2", "p2", nginx("b")), wpod("shop", "web", "web-4", "p4", nginx("b")))
	tl, _, err = s.Timeline(ctx, nginxRef, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	assertTimeline(t, "after t2", tl, []TimelineDigest{
		{Digest: sha("a"), FirstSeen: t0, LastSeen: t1, Running: false, Clusters: []string{"prod"}, Pods: 2},
		{Digest: sha("b"), FirstSeen: t1, LastSeen: t2, Running: true, Clusters: []string{"prod"}, Pods: 3},
	})
	if st, err := s.ClusterStatusByName(ctx, "prod", Scope{}); err != nil || st.OpenMutations != 0 || !st.LastScan.StartedAt.Equal(t2) {
		t.Errorf("prod at t2: %+v, %v", st, err)
	}

	// Purge: prod's history goes with it; the old stage's stays.
	if _, err := s.DeleteCluster(ctx, "prod", true, admin); err != nil {
		t.Fatal(err)
	}
	if events, _ := s.AuditEvents(ctx, 0, 2); len(events) != 2 || events[0].Action != ActionClusterDelete ||
		!reflect.DeepEqual(events[0].Detail, map[string]any{"purge": true}) || events[1].Action != ActionClusterCreate {
		t.Errorf("audit of the purge: %+v", events)
	}
	if scans, err := s.ListScans(ctx, ScanFilter{Cluster: "prod"}); err != nil || len(scans) != 0 {
		t.Errorf("prod's scans after the purge: %+v, %v", scans, err)
	}
	// Prod's own mutations go; the tag-divergence it shared with stage is stage's
	// history too, and stays.
	if ms, err := s.ListMutations(ctx, MutationFilter{State: StateAll, Cluster: "prod"}); err != nil ||
		!slices.Equal(kinds(ms), []string{"tag-divergence@"}) || ms[0].ResolvedAt == nil {
		t.Errorf("prod's mutations after the purge: %v, %v", kinds(ms), err)
	}
	tl, _, err = s.Timeline(ctx, nginxRef, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	// Both clusters that ran the tag are gone: so is its timeline.
	assertTimeline(t, "after the purge", tl, []TimelineDigest{})
	use, err = s.DigestUses(ctx, sha("b"), HistoryPage{})
	if err != nil || len(use.Running) != 0 || len(use.History) != 0 || use.Running == nil || use.History == nil {
		t.Errorf("B after the purge: %+v, %v", use, err)
	}
	if sc, err := s.ScanRecordByID(ctx, queued, Scope{}); err != nil || sc.Cluster != "stage" {
		t.Errorf("the old stage's scan after the purge: %+v, %v", sc, err)
	}
	for name, err := range map[string]error{
		"scan":     second(s.ScanRecordByID(ctx, 1<<40, Scope{})),
		"mutation": second(s.MutationByID(ctx, 1<<40, Scope{})),
		"status":   second(s.ClusterStatusByName(ctx, "prod", Scope{})),
		"delete":   second(s.DeleteCluster(ctx, "prod", true, admin)),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}
