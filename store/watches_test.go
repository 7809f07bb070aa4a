package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestRecordWatch records watch snapshots: a change is a scan of kind watch, a
// snapshot that changes nothing replaces the unchanged one before it (so churn never
// grows the scans table) while the cluster's latest sighting moves, and a poll scan
// between them stays.
func TestRecordWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
	t0 := time.Now().UTC().Truncate(time.Second)
	record := func(at time.Time, pods ...inventory.Pod) WatchRecord {
		t.Helper()
		r, err := s.RecordWatch(ctx, c.ID, pods, len(pods), at)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kinds := func() []string {
		t.Helper()
		scans, err := s.ScansOfCluster(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sc := range scans {
			k := sc.Kind
			if sc.Kind == ScanKindWatch {
				k += "×" + string(rune('0'+sc.Snapshots))
			}
			out = append(out, k)
		}
		return out
	}
	a, b := pod("web-a", "ua", "app", digest("a")), pod("web-b", "ub", "app", digest("a"))

	if r := record(t0, a, b); !r.Changed || r.Counts.Opened != 2 {
		t.Fatalf("first snapshot: %+v", r)
	}
	r1 := record(t0.Add(time.Second), a, b)
	r2 := record(t0.Add(2*time.Second), a, b)
	if r1.Changed || r2.Changed {
		t.Fatalf("unchanged snapshots recorded as changes: %+v %+v", r1, r2)
	}
	if got := kinds(); len(got) != 2 || got[0] != "watch×2" || got[1] != "watch×1" {
		t.Fatalf("scans after two unchanged snapshots: %v, want [watch×2 watch×1]", got)
	}
	// The latest sighting is the latest snapshot.
	cs, err := s.ClusterStatusByName(ctx, "prod", Scope{})
	if err != nil || cs.LastSucceeded == nil || !cs.LastSucceeded.Equal(t0.Add(2*time.Second)) || cs.LastScan.Kind != ScanKindWatch {
		t.Fatalf("status: %+v %v", cs, err)
	}

	// b moves to another digest: a workload-divergence opens, recorded as a change.
	b2 := pod("web-b", "ub", "app", digest("b"))
	r := record(t0.Add(3*time.Second), a, b2)
	if !r.Changed || r.Counts.Opened != 1 || r.Counts.Closed != 1 || r.Counts.Mutations.Opened != 1 {
		t.Fatalf("change: %+v", r)
	}
	// A poll scan between watch snapshots stays.
	id, err := s.StartScan(ctx, c.ID, t0.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteScan(ctx, id, []inventory.Pod{a, b2}, 2, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	record(t0.Add(5*time.Second), a, b2)
	record(t0.Add(6*time.Second), a, b2)
	// Back: resolved.
	if r := record(t0.Add(7*time.Second), a, b); !r.Changed || r.Counts.Mutations.Resolved != 1 {
		t.Fatalf("back: %+v", r)
	}
	if got, want := kinds(), []string{"watch×1", "watch×2", "poll", "watch×1", "watch×2", "watch×1"}; !equalStrings(got, want) {
		t.Fatalf("scans: %v, want %v", got, want)
	}
	// A deleted cluster's watch records nothing more.
	if _, err := s.DeleteCluster(ctx, "prod", false, testAudit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordWatch(ctx, c.ID, nil, 0, t0.Add(8*time.Second)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted cluster's snapshot: %v, want ErrNotFound", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWatchLease holds a cluster's watch lease for one replica at a time, by the
// database's clock: another takes it once it expired or was released; a deleted
// cluster cannot be leased.
func TestWatchLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
	mode := ScanModeWatch
	if _, err := s.UpdateCluster(ctx, "prod", ClusterChange{ScanMode: &mode}, testAudit); err != nil {
		t.Fatal(err)
	}
	targets, err := s.WatchTargets(ctx)
	if err != nil || len(targets) != 1 || targets[0].ID != c.ID || targets[0].CredentialsDigest == "" || targets[0].ScanMode != ScanModeWatch {
		t.Fatalf("targets: %+v %v", targets, err)
	}
	take := func(holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.AcquireWatch(ctx, c.ID, holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("r1", 300*time.Millisecond) || take("r2", time.Second) || !take("r1", 300*time.Millisecond) {
		t.Fatal("the first holder does not hold the lease alone")
	}
	if err := s.ReportWatch(ctx, c.ID, "r1", WatchReport{State: WatchLive}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if !take("r2", time.Second) || take("r1", time.Second) {
		t.Fatal("an expired lease was not taken over")
	}
	w, err := s.WatchStateOf(ctx, c.ID)
	if err != nil || w.Holder != "r2" || w.State != WatchResyncing {
		t.Fatalf("state after takeover: %+v %v", w, err)
	}
	if err := s.ReleaseWatch(ctx, c.ID, "r2"); err != nil {
		t.Fatal(err)
	}
	if !take("r1", time.Second) {
		t.Fatal("a released lease was not taken")
	}
	if _, err := s.DeleteCluster(ctx, "prod", false, testAudit); err != nil {
		t.Fatal(err)
	}
	if take("r1", time.Second) {
		t.Fatal("a deleted cluster's watch was leased")
	}
	if targets, _ := s.WatchTargets(ctx); len(targets) != 0 {
		t.Fatalf("a deleted cluster is a target: %+v", targets)
	}
}
