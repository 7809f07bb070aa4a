package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// benchPods is a cluster of n pods with two containers each, in ReplicaSets of 50.
func benchPods(n int) []inventory.Pod {
	parser := imageref.NewParser()
	pods := make([]inventory.Pod, n)
	for i := range pods {
		rs := i / 50
		app := fmt.Sprintf("registry.example.com/app-%d", rs%40)
		pods[i] = inventory.Pod{
			Cluster: "bench", Namespace: fmt.Sprintf("ns-%d", rs%10), Name: fmt.Sprintf("app-%d-%d", rs, i),
			UID: types.UID(fmt.Sprintf("pod-%d", i)), Node: fmt.Sprintf("node-%d", i%20), Arch: "amd64",
			Workload:   inventory.Workload{Kind: "Deployment", Name: fmt.Sprintf("app-%d", rs)},
			Controller: inventory.Controller{Kind: "ReplicaSet", Name: fmt.Sprintf("app-%d-abc", rs), UID: types.UID(fmt.Sprintf("rs-%d", rs)), Revision: "abc"},
			Containers: []inventory.Container{
				{Name: "app", Type: inventory.Regular, Ref: parser.Ref(app + ":v1"), ID: parser.ImageID(fmt.Sprintf("%s@sha256:%064x", app, rs%40))},
				{Name: "proxy", Type: inventory.Regular, Ref: parser.Ref("envoyproxy/envoy:v1.31"), ID: parser.ImageID(fmt.Sprintf("docker.io/envoyproxy/envoy@sha256:%064x", 31))},
			},
		}
	}
	return pods
}

// BenchmarkScanWrites measures the database work of a first scan of 5,000 pods × 2
// containers into an empty history, and of a steady-state scan of the same cluster.
// Targets: first-scan writes under 1 s; steady state writes no row and takes under
// 100 ms.
func BenchmarkScanWrites(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	pods := benchPods(5000)
	var first, steady time.Duration
	var firstRows, steadyRows int
	i := 0
	for b.Loop() {
		c := mustCluster(b, s, fmt.Sprintf("bench-%d", i), "t")
		i++
		at := time.Now()
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		counts, err := s.CompleteScan(ctx, id, pods, 10000, at)
		if err != nil {
			b.Fatal(err)
		}
		first += time.Since(t0)
		firstRows += counts.Opened + counts.Closed

		id, err = s.StartScan(ctx, c.ID, at.Add(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		counts, err = s.CompleteScan(ctx, id, pods, 10000, at.Add(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		steady += time.Since(t0)
		steadyRows += counts.Opened + counts.Closed
	}
	n := float64(i)
	b.ReportMetric(float64(first.Milliseconds())/n, "first-scan-ms")
	b.ReportMetric(float64(firstRows)/n, "first-scan-rows")
	b.ReportMetric(float64(steady.Milliseconds())/n, "steady-scan-ms")
	b.ReportMetric(float64(steadyRows)/n, "steady-scan-rows")
}

// BenchmarkSteadyScans measures what BenchmarkScanWrites's steady figure stands for on
// its own: scan after scan of one unchanged cluster of 5,000 pods × 2 containers, as a
// service scans it all day, without the garbage of a first scan just before each one
// (whose collection that figure partly holds).
func BenchmarkSteadyScans(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	pods := benchPods(5000)
	c := mustCluster(b, s, "bench", "t")
	at := time.Now()
	scan := func() ScanCounts {
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			b.Fatal(err)
		}
		counts, err := s.CompleteScan(ctx, id, pods, 10000, at)
		if err != nil {
			b.Fatal(err)
		}
		at = at.Add(time.Minute)
		return counts
	}
	if counts := scan(); counts.Opened != 10000 {
		b.Fatalf("first scan opened %d intervals, want 10000", counts.Opened)
	}
	rows := 0
	for b.Loop() {
		counts := scan()
		rows += counts.Opened + counts.Closed
	}
	if rows != 0 {
		b.Fatalf("steady scans wrote %d observation rows, want 0", rows)
	}
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}
