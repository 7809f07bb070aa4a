package scheduler

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// BenchmarkRound200Clusters measures one full round of scans of 200 registered clusters
// (all on one test API server holding 100 two-container pods) by one replica with the
// default concurrency: every cluster is asked for a scan and the round ends when each
// has a new succeeded scan. Reported as seconds per round.
func BenchmarkRound200Clusters(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	c := h.cluster
	if err := c.Namespace(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		name := fmt.Sprintf("p-%03d", i)
		_, err := c.Admin.CoreV1().Pods("bench").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: fmt.Sprintf("registry.example.com/app-%d:v1", i%10)},
				{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.SetContainerStatuses(ctx, "bench", name, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: fmt.Sprintf("registry.example.com/app-%d@sha256:%064x", i%10, i%10)},
			{Name: "proxy", ImageID: "docker.io/envoyproxy/envoy@sha256:" + strings.Repeat("e", 64)},
		}}); err != nil {
			b.Fatal(err)
		}
	}
	creds := credentials(b, c.Context("x", c.AdminToken))
	var ids []int64
	for i := range 200 {
		cl, err := h.store.CreateCluster(ctx, store.NewCluster{Name: fmt.Sprintf("c%03d", i), Server: c.Host, Context: "x",
			Credentials: creds, ScanInterval: time.Hour, Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, cl.ID)
	}
	s, err := New(Config{Store: h.store, Dialer: &kubeconfig.Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Stop(ctx)
	// The first round, scheduled at start, warms everything up.
	waitRound(b, h.store, ids, time.Time{})

	b.ResetTimer()
	for b.Loop() {
		since := time.Now()
		for _, id := range ids {
			if _, err := s.ScanNow(ctx, id, store.Audit{}); err != nil {
				b.Fatal(err)
			}
		}
		waitRound(b, h.store, ids, since)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/round")
}

// waitRound waits until every cluster has a succeeded scan started after since.
func waitRound(b *testing.B, st *store.Store, ids []int64, since time.Time) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var n int
		err := st.Pool().QueryRow(context.Background(), `
			SELECT count(DISTINCT cluster_id) FROM scans WHERE status = 'succeeded' AND started_at > $1`, since).Scan(&n)
		if err != nil {
			b.Fatal(err)
		}
		if n == len(ids) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("round not finished within 5 minutes")
}
