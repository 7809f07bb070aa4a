package scheduler

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
)

// TestRetention runs the retention loop on a real database: an interval closed longer
// ago than the retention goes, one open stays.
func TestRetention(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	c, err := st.CreateCluster(ctx, store.NewCluster{Name: "one", Server: "https://one.example:6443", Context: "one",
		Credentials: []byte(`{"token":"t"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(at time.Time, l string) {
		id, err := st.StartScan(ctx, c.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteScan(ctx, id, []inventory.Pod{appPod("one", "a", "app:1", l, "")}, 1, at); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	scan(old, "a")
	scan(old.Add(time.Hour), "b") // closes the interval of a, 47 hours ago
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Retention{Store: st, Keep: 24 * time.Hour, Every: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}.Run(rctx)
	}()
	eventually(t, "the old interval pruned", func() bool {
		obs, err := st.ObservationsOfCluster(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(obs) == 1 && obs[0].ClosedAt == nil
	})
	cancel()
	<-done
}
