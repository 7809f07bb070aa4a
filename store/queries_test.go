package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	st, err := s.ClusterStatusByName(ctx, "prod")
	if err != nil || st.LastScan != nil || st.OpenMutations != 0 || st.Cluster != prod {
		t.Fatalf("fresh prod: %+v, %v", st, err)
	}
	queued, _, err := s.QueueScan(ctx, stage.ID, t0.Add(-time.Minute), Audit{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := s.ClusterStatusByName(ctx, "stage"); err != nil || st.LastScan == nil || st.LastScan.ID != queued || st.LastScan.Status != ScanQueued {
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

	statuses, err := s.ClusterStatuses(ctx)
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
	m, err := s.MutationByID(ctx, open[0].ID)
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
	tl, _, err := s.Timeline(ctx, nginxRef)
	if err != nil {
		t.Fatal(err)
	}
	wantTL := []TimelineDigest{
		{Digest: sha("a"), FirstSeen: t0, LastSeen: t1, Running: true, Clusters: []string{"prod", "stage"}, Pods: 3},
		{Digest: sha("b"), FirstSeen: t1, LastSeen: t1, Running: true, Clusters: []string{"prod"}, Pods: 2},
	}
	assertTimeline(t, "after t1", tl, wantTL)
	if tl, _, err := s.Timeline(ctx, "docker.io/library/never:seen"); err != nil || tl == nil || len(tl) != 0 {
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
	if sc, err := s.ScanRecordByID(ctx, running); err != nil || sc.Status != ScanAborted || sc.Cluster != "stage" || sc.Error != "cluster deleted" {
		t.Errorf("the scan running at deletion: %+v, %v", sc, err)
	}
	for name, err := range map[string]error{
		"Credentials":   second(s.Credentials(ctx, stage.ID)),
		"ClusterByID":   second(s.ClusterByID(ctx, stage.ID)),
		"ClusterByName": second(s.ClusterByName(ctx, "stage")),
		"status":        second(s.ClusterStatusByName(ctx, "stage")),
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
	tl, _, err = s.Timeline(ctx, nginxRef)
	if err != nil {
		t.Fatal(err)
	}
	assertTimeline(t, "after deleting stage", tl, wantTL) // stage's sweb-1 closed, last seen at t0
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
	tl, _, err = s.Timeline(ctx, nginxRef)
	if err != nil {
		t.Fatal(err)
	}
	assertTimeline(t, "after t2", tl, []TimelineDigest{
		{Digest: sha("a"), FirstSeen: t0, LastSeen: t1, Running: false, Clusters: []string{"prod", "stage"}, Pods: 3},
		{Digest: sha("b"), FirstSeen: t1, LastSeen: t2, Running: true, Clusters: []string{"prod"}, Pods: 3},
	})
	if st, err := s.ClusterStatusByName(ctx, "prod"); err != nil || st.OpenMutations != 0 || !st.LastScan.StartedAt.Equal(t2) {
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
	tl, _, err = s.Timeline(ctx, nginxRef)
	if err != nil {
		t.Fatal(err)
	}
	assertTimeline(t, "after the purge", tl, []TimelineDigest{
		{Digest: sha("a"), FirstSeen: t0, LastSeen: t0, Running: false, Clusters: []string{"stage"}, Pods: 1},
	})
	use, err = s.DigestUses(ctx, sha("b"), HistoryPage{})
	if err != nil || len(use.Running) != 0 || len(use.History) != 0 || use.Running == nil || use.History == nil {
		t.Errorf("B after the purge: %+v, %v", use, err)
	}
	if sc, err := s.ScanRecordByID(ctx, queued); err != nil || sc.Cluster != "stage" {
		t.Errorf("the old stage's scan after the purge: %+v, %v", sc, err)
	}
	for name, err := range map[string]error{
		"scan":     second(s.ScanRecordByID(ctx, 1<<40)),
		"mutation": second(s.MutationByID(ctx, 1<<40)),
		"status":   second(s.ClusterStatusByName(ctx, "prod")),
		"delete":   second(s.DeleteCluster(ctx, "prod", true, admin)),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// workloadNames renders workloads as cluster/namespace/name, starred when mutant.
func workloadNames(ws []Workload) []string {
	var out []string
	for _, w := range ws {
		n := w.Cluster + "/" + w.Namespace + "/" + w.Name
		if w.Mutant {
			n += "*"
		}
		out = append(out, n)
	}
	return out
}

func assertTimeline(t *testing.T, when string, got, want []TimelineDigest) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Digest == w.Digest && g.FirstSeen.Equal(w.FirstSeen) && g.LastSeen.Equal(w.LastSeen) &&
			g.Running == w.Running && slices.Equal(g.Clusters, w.Clusters) && g.Pods == w.Pods
	}
	if !ok {
		t.Errorf("timeline %s:\n got %+v\nwant %+v", when, got, want)
	}
}

func assertHistory(t *testing.T, what string, got DigestUse, want []DigestPlace) {
	t.Helper()
	ok := len(got.History) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got.History[i], want[i]
		ok = g.Place == w.Place && g.FirstSeen.Equal(w.FirstSeen) && g.LastSeen.Equal(w.LastSeen)
	}
	if !ok {
		t.Errorf("history of %s:\n got %+v\nwant %+v", what, got.History, want)
	}
}

// TestListWorkloadsPaging checks that pages of every size return each running workload
// once, in order, with the containers of its pods that run a digest, under each filter.
func TestListWorkloadsPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	// Names that sort differently by bytes and by a locale's rules.
	names := []string{"app-2", "app10", "App", "app.1", "b", "a-b", "ab"}
	kinds := []string{"Deployment", "StatefulSet", "DaemonSet"}
	var all []inventory.Pod
	var want []Workload
	clusterIDs := map[string]int64{}
	for ci, cname := range []string{"b-east", "a-west", "B"} {
		c := mustCluster(t, s, cname, "t")
		clusterIDs[cname] = c.ID
		var pods []inventory.Pod
		n := 0
		for ni, ns := range []string{"shop", "kube-system", "Shop"} {
			for wi, name := range names {
				if (ci+ni+wi)%4 == 0 {
					continue // not every workload everywhere
				}
				kind := kinds[(ci+wi)%len(kinds)]
				for pi := range 1 + wi%3 {
					n++
					app := fmt.Sprintf("registry.example/%s:v1", strings.ToLower(name))
					letter := string(rune('0' + (pi+wi)%2)) // some workloads run two digests
					containers := []string{"app=" + app + "|registry.example/x@" + sha(letter),
						"init:setup=busybox:1.36|docker.io/library/busybox@" + sha("e"),
						"waiting=redis:7|"} // no imageID: not an observation
					if wi%2 == 0 { // the least reference differs
						containers = append(containers, "proxy=envoyproxy/envoy:v1.31|docker.io/envoyproxy/envoy@"+sha("f"))
					}
					p := wpod(ns, name, fmt.Sprintf("%s-%d", name, pi), fmt.Sprintf("%s-%d", cname, n), containers...)
					p.Workload.Kind = kind
					pods = append(pods, p)
				}
			}
		}
		// Each cluster at its own time, so that the last change differs, and ties.
		f.scan(c, at.Add(time.Duration(ci)*time.Minute), pods...)
		all = append(all, pods...)
	}
	mutations, err := s.ListMutations(ctx, MutationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var detected []detect.Mutation
	for _, m := range mutations {
		detected = append(detected, m.Mutation)
	}
	if len(detected) == 0 {
		t.Fatal("no open mutation to mark workloads with")
	}
	for ci, cname := range []string{"b-east", "a-west", "B"} {
		of := slices.DeleteFunc(slices.Clone(all), func(p inventory.Pod) bool { return p.Cluster != cname })
		want = append(want, expectWorkloads(of, detected, at.Add(time.Duration(ci)*time.Minute))...)
	}
	for i := range want {
		want[i].ClusterID = clusterIDs[want[i].Cluster]
	}
	sortWorkloads(want, SortCluster, false)

	for _, tc := range []struct {
		name string
		f    WorkloadFilter
		keep func(Workload) bool
	}{
		{"all", WorkloadFilter{}, func(Workload) bool { return true }},
		{"mutants", WorkloadFilter{MutantOnly: true}, func(w Workload) bool { return w.Mutant }},
		{"cluster", WorkloadFilter{Cluster: "B"}, func(w Workload) bool { return w.Cluster == "B" }},
		{"namespace", WorkloadFilter{Namespace: "shop"}, func(w Workload) bool { return w.Namespace == "shop" }},
		{"kind", WorkloadFilter{Kind: "StatefulSet"}, func(w Workload) bool { return w.Kind == "StatefulSet" }},
		{"mutants of a kind in a namespace", WorkloadFilter{MutantOnly: true, Namespace: "Shop", Kind: "DaemonSet"},
			func(w Workload) bool { return w.Mutant && w.Namespace == "Shop" && w.Kind == "DaemonSet" }},
		{"mutants of a cluster", WorkloadFilter{MutantOnly: true, Cluster: "a-west"},
			func(w Workload) bool { return w.Mutant && w.Cluster == "a-west" }},
		{"nothing", WorkloadFilter{Cluster: "nope"}, func(Workload) bool { return false }},
		{"reference", WorkloadFilter{Ref: "docker.io/envoyproxy/envoy:v1.31"}, runs("docker.io/envoyproxy/envoy:v1.31")},
		{"mutants of a reference", WorkloadFilter{MutantOnly: true, Ref: "docker.io/envoyproxy/envoy:v1.31"},
			func(w Workload) bool { return w.Mutant && runs("docker.io/envoyproxy/envoy:v1.31")(w) }},
	} {
		for _, order := range WorkloadSorts {
			for _, desc := range []bool{false, true} {
				expected := slices.DeleteFunc(slices.Clone(want), func(w Workload) bool { return !tc.keep(w) })
				if tc.name == "all" && (len(expected) < 40 || !slices.ContainsFunc(expected, func(w Workload) bool { return w.Mutant })) {
					t.Fatalf("weak fixture: %d workloads", len(expected))
				}
				sortWorkloads(expected, order, desc)
				for _, limit := range []int{1, 7, 1000} {
					var got []Workload
					f := tc.f
					f.Sort, f.Desc = order, desc
					for range 200 {
						f.Limit = limit
						page, err := s.ListWorkloads(ctx, f)
						if err != nil {
							t.Fatalf("%s: %v", tc.name, err)
						}
						if len(page) > limit {
							t.Fatalf("%s: a page of %d, limit %d", tc.name, len(page), limit)
						}
						got = append(got, page...)
						if len(page) < limit {
							break
						}
						c := page[len(page)-1].Cursor()
						f.After = &c
					}
					if len(got)+len(expected) > 0 && !reflect.DeepEqual(got, expected) {
						t.Errorf("%s by %s (desc %v), pages of %d: got %d workloads %v\nwant %d %v", tc.name, order, desc, limit,
							len(got), workloadNames(got), len(expected), workloadNames(expected))
						for i := range min(len(got), len(expected)) {
							if !reflect.DeepEqual(got[i], expected[i]) {
								t.Errorf("first difference:\n got %+v\nwant %+v", got[i], expected[i])
								break
							}
						}
					}
				}
			}
		}
	}
}

// runs keeps the workloads running ref.
func runs(ref string) func(Workload) bool {
	return func(w Workload) bool {
		return slices.ContainsFunc(w.Running, func(c RunningContainer) bool { return c.Ref == ref })
	}
}

// sortWorkloads orders workloads as ListWorkloads documents each sort, stated here
// apart from the queries: names by bytes, the least reference a workload runs, the
// latest first_seen of its containers.
func sortWorkloads(ws []Workload, by WorkloadSort, desc bool) {
	leastRef := func(w Workload) string {
		refs := []string{}
		for _, c := range w.Running {
			refs = append(refs, c.Ref)
		}
		return slices.Min(refs)
	}
	changed := func(w Workload) time.Time {
		var t time.Time
		for _, c := range w.Running {
			if c.FirstSeen.After(t) {
				t = c.FirstSeen
			}
		}
		return t
	}
	slices.SortFunc(ws, func(a, b Workload) int {
		cl, ns := strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace)
		id := cmp.Compare(a.ClusterID, b.ClusterID)
		kind, name := strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name)
		var c int
		switch by {
		case SortCluster:
			c = cmp.Or(cl, ns, kind, name)
		case SortNamespace:
			c = cmp.Or(ns, name, kind, id)
		case SortName:
			c = cmp.Or(name, ns, kind, id)
		case SortKind:
			c = cmp.Or(kind, ns, name, id)
		case SortRef:
			c = cmp.Or(strings.Compare(leastRef(a), leastRef(b)), ns, name, kind, id)
		case SortChanged:
			c = cmp.Or(changed(a).Compare(changed(b)), ns, name, kind, id)
		case SortMutant:
			mutantFirst := 0
			if a.Mutant != b.Mutant {
				mutantFirst = 1
				if a.Mutant {
					mutantFirst = -1
				}
			}
			c = cmp.Or(mutantFirst, cl, ns, kind, name)
		default:
			panic("unknown sort " + by)
		}
		if desc {
			return -c
		}
		return c
	})
}

// expectWorkloads is what ListWorkloads should return of the listed pods: their
// workloads in byte order, each with the containers that run a digest (a container
// waiting for its image is not stored), marked mutant when a place of a mutation, all
// first seen at seen.
func expectWorkloads(pods []inventory.Pod, mutations []detect.Mutation, seen time.Time) []Workload {
	mutant := map[WorkloadKey]bool{}
	for _, m := range mutations {
		for _, p := range m.Places {
			mutant[WorkloadKey{p.Cluster, p.Namespace, p.Workload.Kind, p.Workload.Name}] = true
		}
	}
	at := map[WorkloadKey]int{}
	var out []Workload
	for _, p := range pods {
		k := WorkloadKey{p.Cluster, p.Namespace, p.Workload.Kind, p.Workload.Name}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Workload{WorkloadKey: k, Mutant: mutant[k], Running: []RunningContainer{}})
		}
		for _, c := range p.Containers {
			if !c.Observed() {
				continue
			}
			out[i].Running = append(out[i].Running, RunningContainer{
				Pod: p.Name, PodUID: string(p.UID), Container: c.Name, Type: c.Type, Image: c.Ref.Written,
				Ref: c.Ref.Normalized, Pinned: c.Ref.Pinned(), Digest: c.ID.Digest, Kind: c.ID.Kind, ImageID: c.ID.Raw,
				Node: p.Node, Runtime: p.Runtime, FirstSeen: seen,
			})
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Running, func(a, b RunningContainer) int {
			return cmp.Or(strings.Compare(a.Pod, b.Pod), strings.Compare(a.PodUID, b.PodUID), strings.Compare(a.Container, b.Container))
		})
	}
	slices.SortFunc(out, func(a, b Workload) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace),
			strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
	return out
}

// TestDigestHistoryPaging checks that a page of the history holds at most HistoryLimit
// intervals, newest first, while every running place is listed, and that paging
// through it with the key of each page's last interval returns every interval once, in
// order (ties in first sighting broken by id), whatever the page size.
func TestDigestHistoryPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	c := mustCluster(t, s, "prod", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var pods []inventory.Pod
	for i := range HistoryLimit {
		pods = append(pods, wpod("shop", "web", fmt.Sprintf("web-%04d", i), fmt.Sprintf("u%d", i), nginx("a")))
	}
	f.scan(c, t0, pods...)
	f.scan(c, t0.Add(time.Minute), append(pods[:10:10], wpod("shop", "web", "late", "late", nginx("a")))...)
	use, err := s.DigestUses(ctx, sha("a"), HistoryPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(use.History) != HistoryLimit || len(use.Running) != 11 {
		t.Fatalf("%d intervals, %d running", len(use.History), len(use.Running))
	}
	if h := use.History[0]; h.Pod != "late" || !h.FirstSeen.Equal(t0.Add(time.Minute)) || !h.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("newest interval: %+v", h)
	}
	if h := use.History[1]; !h.FirstSeen.Equal(t0) || h.LastSeen.Before(t0) {
		t.Errorf("second interval: %+v", h)
	}
	if !slices.IsSortedFunc(use.Running, detect.ComparePlaces) || use.Running[0].Pod != "late" {
		t.Errorf("running not sorted: %+v", use.Running[:2])
	}

	all, err := s.DigestUses(ctx, sha("a"), HistoryPage{Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.History) != HistoryLimit+1 {
		t.Fatalf("%d intervals in one page, want %d", len(all.History), HistoryLimit+1)
	}
	for i := 1; i < len(all.History); i++ {
		a, b := all.History[i-1].Key, all.History[i].Key
		if !(a.FirstSeen.After(b.FirstSeen) || a.FirstSeen.Equal(b.FirstSeen) && a.ID > b.ID) {
			t.Fatalf("history out of order at %d: %+v then %+v", i, a, b)
		}
	}
	for _, size := range []int{1, 7, 333, HistoryLimit} {
		var got []DigestPlace
		var before *HistoryKey
		for pages := 0; ; pages++ {
			if pages > len(all.History)+1 {
				t.Fatalf("page size %d: paging does not end", size)
			}
			p, err := s.DigestUses(ctx, sha("a"), HistoryPage{Before: before, Limit: size})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.History) > size || len(p.Running) != 11 {
				t.Fatalf("page size %d: %d intervals, %d running", size, len(p.History), len(p.Running))
			}
			got = append(got, p.History...)
			if len(p.History) < size {
				break
			}
			before = &p.History[len(p.History)-1].Key
		}
		if !slices.EqualFunc(got, all.History, func(a, b DigestPlace) bool {
			return a.Key.ID == b.Key.ID && a.Place == b.Place && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen)
		}) {
			t.Errorf("page size %d: %d intervals paged, want the %d of one read in its order", size, len(got), len(all.History))
		}
	}
}

// TestHistoryEventsStored follows one container through restarts that are not events
// (onto the same digest reported in another form, back to a digest it ran, onto an
// image ID of the same image, a new pod on another architecture) and one that is: the
// store records exactly the tag-moved and pod-drift of the real move, once.
func TestHistoryEventsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	c := mustCluster(t, s, "prod", "t")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	web := func(imageID string) inventory.Pod {
		return wpod("shop", "web", "web-1", "u1", "web=nginx:1.25|"+imageID)
	}
	events := func() []string {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{State: StateClosed})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%s %s>%s %s", m.Kind, imageref.Short(m.Digests[0]), imageref.Short(m.Digests[1]), m.Places[0].Pod))
		}
		slices.Sort(out)
		return out
	}
	steps := []struct {
		what   string
		pods   []inventory.Pod
		events int
	}{
		{"first sighting", []inventory.Pod{web(digest("a"))}, 0},
		{"a restart onto the same digest, reported by dockershim", []inventory.Pod{web("docker-pullable://nginx@" + sha("a"))}, 0},
		{"the tag moved under a restart", []inventory.Pod{web(digest("b"))}, 2},
		// Not a move of the tag, but a change of the code under the running pod.
		{"back to the old digest", []inventory.Pod{web(digest("a"))}, 1},
		{"an image ID of the same image", []inventory.Pod{web(sha("c"))}, 0},
		{"a new pod on another architecture", func() []inventory.Pod {
			p := wpod("shop", "web", "web-2", "u2", "web=nginx:1.25|"+sha("d"))
			p.Arch, p.Node = "arm64", "node-2"
			return []inventory.Pod{web(sha("c")), p}
		}(), 0},
	}
	for i, st := range steps {
		if got := f.scan(c, at(i), st.pods...); got.Events != st.events {
			t.Errorf("%s: %d events, want %d", st.what, got.Events, st.events)
		}
	}
	if got, want := events(), []string{"pod-drift aaaaaaaaaaaa>bbbbbbbbbbbb web-1", "pod-drift bbbbbbbbbbbb>aaaaaaaaaaaa web-1",
		"tag-moved aaaaaaaaaaaa>bbbbbbbbbbbb web-1"}; !slices.Equal(got, want) {
		t.Errorf("events: %v, want %v", got, want)
	}
	// The same listing again records nothing more.
	if got := f.scan(c, at(len(steps)), steps[len(steps)-1].pods...); got.Events != 0 {
		t.Errorf("the last listing seen again: %d events", got.Events)
	}
	// Back onto b after the image ID: a drift from a, the last digest of its class.
	if got := f.scan(c, at(len(steps)+1), web(digest("b"))); got.Events != 1 {
		t.Errorf("back onto b over an image ID: %d events, want 1", got.Events)
	}
}

// TestPodDriftReturnsStored writes scans in sequence for one pod container that goes
// A→B→A, and one of another cluster that goes A→B→A→B: every change is a pod-drift of
// its own, a return to an earlier digest and the same change again included (two and
// three), each at the time of its scan; and an event written again at the same time is
// the same row.
func TestPodDriftReturnsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	web := func(l string) inventory.Pod { return wpod("shop", "web", "web-1", "u1", nginx(l)) }
	drifts := func(cluster string) []Mutation {
		t.Helper()
		ms, err := s.ListMutations(ctx, MutationFilter{Cluster: cluster, Kind: "pod-drift", State: StateAll, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ms, func(a, b Mutation) int { return a.DetectedAt.Compare(b.DetectedAt) })
		return ms
	}
	for i, tc := range []struct {
		cluster string
		digests string // one letter a scan
		events  []int  // each scan's events
		drifts  []string
	}{
		{"one", "aba", []int{0, 2, 1}, []string{"a>b", "b>a"}},
		// The tag moved to b in cluster one already: only drifts here.
		{"two", "abab", []int{0, 1, 1, 1}, []string{"a>b", "b>a", "a>b"}},
	} {
		c := mustCluster(t, s, tc.cluster, "t")
		start := t0.Add(time.Duration(i) * time.Hour)
		at := func(j int) time.Time { return start.Add(time.Duration(j) * time.Minute) }
		for j, l := range tc.digests {
			if got := f.scan(c, at(j), web(string(l))); got.Events != tc.events[j] {
				t.Errorf("%s, scan %d onto %c: %d events, want %d", tc.cluster, j, l, got.Events, tc.events[j])
			}
		}
		// A rescan of the same listing records nothing more.
		if got := f.scan(c, at(len(tc.digests)), web(tc.digests[len(tc.digests)-1:])); got.Events != 0 {
			t.Errorf("%s, a rescan: %d events", tc.cluster, got.Events)
		}
		ms := drifts(tc.cluster)
		var got []string
		for j, m := range ms {
			got = append(got, m.Digests[0][len(m.Digests[0])-1:]+">"+m.Digests[1][len(m.Digests[1])-1:])
			// Each at the time of the scan that saw it (CompleteScan's, a second after
			// the start).
			if want := at(j + 1).Add(time.Second); !m.DetectedAt.Equal(want) {
				t.Errorf("%s, drift %d detected at %s, want %s", tc.cluster, j, m.DetectedAt, want)
			}
		}
		if !slices.Equal(got, tc.drifts) {
			t.Errorf("%s: pod-drifts %v, want %v", tc.cluster, got, tc.drifts)
		}
		// The same event written again at its time is the same row; at another, another.
		last := ms[len(ms)-1]
		ev := detect.Mutation{Kind: detect.PodDrift, Cluster: tc.cluster, Namespace: "shop", Container: "web", Ref: nginxRef,
			Digests: last.Digests, Places: last.Places, Identity: last.Identity}
		for _, w := range []struct {
			at   time.Time
			rows int
		}{{last.DetectedAt, 0}, {last.DetectedAt.Add(time.Hour), 1}} {
			if err := s.tx(ctx, func(tx pgx.Tx) error {
				n, err := storeEvents(ctx, tx, c.ID, []detect.Mutation{ev}, w.at)
				if err == nil && n != w.rows {
					t.Errorf("%s: the last drift written again at %s: %d rows, want %d", tc.cluster, w.at, n, w.rows)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDigestRunningPaging pages through what runs a digest in three clusters registered
// out of name order, each with several workloads, one of them running the digest in two
// containers of one pod: every page size gives every running place once, in the order
// of the whole list (by cluster name, then namespace, workload, pod and container by
// bytes), each page at most its size.
func TestDigestRunningPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for ci, name := range []string{"zeta", "alpha", "Mid"} {
		c := mustCluster(t, s, name, "t")
		var pods []inventory.Pod
		for w := range 3 {
			for p := range 4 - w {
				uid := fmt.Sprintf("u%d-%d-%d", ci, w, p)
				containers := []string{nginx("a")}
				if w == 1 && p == 0 {
					containers = append(containers, "sidecar="+strings.TrimPrefix(nginx("a"), "web="))
				}
				pods = append(pods, wpod(fmt.Sprintf("ns-%d", w%2), fmt.Sprintf("w%d", w), fmt.Sprintf("pod-%d", p), uid, containers...))
			}
		}
		pods = append(pods, wpod("ns-0", "other", "other-0", fmt.Sprintf("o%d", ci), nginx("b")))
		f.scan(c, t0, pods...)
	}
	whole, err := s.DigestUses(ctx, sha("a"), HistoryPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Running) != 3*(4+3+2+1) || whole.RunningNext != nil || !slices.IsSortedFunc(whole.Running, detect.ComparePlaces) {
		t.Fatalf("%d running, next %v, sorted %v", len(whole.Running), whole.RunningNext, slices.IsSortedFunc(whole.Running, detect.ComparePlaces))
	}
	for _, size := range []int{1, 2, 7, 29, 30, 100} {
		var got []detect.Place
		var after *RunningKey
		for pages := 0; ; pages++ {
			if pages > len(whole.Running)+1 {
				t.Fatalf("page size %d: paging does not end", size)
			}
			p, err := s.DigestUses(ctx, sha("a"), HistoryPage{RunningLimit: size, RunningAfter: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Running) > size || (p.RunningNext == nil) != (len(got)+len(p.Running) == len(whole.Running)) {
				t.Fatalf("page size %d, page %d: %d running, next %v", size, pages, len(p.Running), p.RunningNext)
			}
			got = append(got, p.Running...)
			if p.RunningNext == nil {
				break
			}
			after = p.RunningNext
		}
		if !slices.Equal(got, whole.Running) {
			t.Errorf("page size %d: paged\n%v\nwant\n%v", size, got, whole.Running)
		}
	}
}
