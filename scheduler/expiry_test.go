package scheduler

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// TestExpiryJob runs the scheduler on a real database: an acknowledgement whose time
// comes a second or two after it was made is ended by the periodic expiry job, its
// workload-divergences are open again, and a scan (which writes the annotation) is
// asked for now of the annotated cluster it touches, not of the one not annotated.
func TestExpiryJob(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	cluster := func(name, annotate string) store.Cluster {
		t.Helper()
		c, err := st.CreateCluster(ctx, store.NewCluster{Name: name, Server: "https://" + name + ".example:6443", Context: name,
			Credentials: []byte(`{}`), ScanInterval: time.Hour, Annotate: annotate, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		// A scan now puts the next scheduled one an hour away: any scan due now is the
		// expiry's.
		id, err := st.StartScan(ctx, c.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pods := []inventory.Pod{appPod(name, "web-a", "app:1", "a", "web-1"), appPod(name, "web-b", "app:1", "b", "web-1")}
		if _, err := st.CompleteScan(ctx, id, pods, len(pods), time.Now()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	on, off := cluster("on", "on"), cluster("off", "off")
	divergences := func(state string) int {
		t.Helper()
		ms, err := st.ListMutations(ctx, store.MutationFilter{State: state, Kind: "workload-divergence"})
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	if n := divergences(store.StateOpen); n != 2 {
		t.Fatalf("%d open workload-divergences, want 2", n)
	}
	soon := time.Now().Add(2 * time.Second)
	ack, err := st.CreateAck(ctx, store.Audit{Actor: "user:admin"}, store.NewAck{Scope: `kind="workload-divergence"`,
		Reason: "known", Until: attention.UntilTime, ExpiresAt: &soon, Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := divergences(store.StateAcknowledged); n != 2 {
		t.Fatalf("%d acknowledged workload-divergences, want 2", n)
	}
	// Scan jobs of a cluster due within a minute.
	dueScans := func(c store.Cluster) int {
		t.Helper()
		var n int
		if err := st.Pool().QueryRow(ctx, `
			SELECT count(*) FROM river_job WHERE kind = 'scan' AND args->>'cluster_id' = $1
			AND scheduled_at < now() + interval '1 minute'`, strconv.FormatInt(c.ID, 10)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	s, err := New(Config{Store: st, Dialer: &kubeconfig.Dialer{}, ExpiryInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(sctx); err != nil {
			t.Error(err)
		}
	})
	// Before its time, the job (run at start, then every 200 ms) ends nothing. On a
	// machine so slow that the setup took most of the time, there is no before to see.
	time.Sleep(400 * time.Millisecond)
	if time.Until(soon) > 200*time.Millisecond {
		if n := divergences(store.StateAcknowledged); n != 2 {
			t.Fatalf("%d acknowledged before the time, want 2", n)
		}
		if n := dueScans(on); n != 0 {
			t.Fatalf("%d scans due before the expiry", n)
		}
	}
	eventually(t, "the workload-divergences open again", func() bool { return divergences(store.StateOpen) == 2 })
	if got, err := st.AckByID(ctx, ack.ID, store.Scope{}); err != nil || got.Status != store.AckEnded || got.EndReason != "expired" {
		t.Fatalf("acknowledgement after its time: %+v, %v", got, err)
	}
	eventually(t, "a scan of the annotated cluster asked for now", func() bool { return dueScans(on) > 0 })
	if n := dueScans(off); n != 0 {
		t.Errorf("%d scans due of the cluster not annotated", n)
	}
}
