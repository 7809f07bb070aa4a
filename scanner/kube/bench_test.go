package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/hostileapi"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
)

// The hostile-cluster benchmark: the scanning process (this one) scans fake API
// servers that run in another process, so that the peak RSS measured is the
// scanner's alone.
//
//	go test -run '^$' -bench HostileClusters -benchtime 1x -count 5 ./scanner/kube/

// healthyPods is the size of the healthy cluster scanned beside the attacks.
const healthyPods = 5000

// TestFakeAPIProcess is the benchmark's server process, run only when the benchmark
// starts it: it serves every fake cluster, prints their URLs as JSON, and serves until
// its standard input closes.
func TestFakeAPIProcess(t *testing.T) {
	if os.Getenv("TAGDRIFT_FAKE_API_PROCESS") != "1" {
		t.Skip("the benchmark's server process")
	}
	urls := map[string]string{}
	clusters := hostileapi.Attacks()
	clusters["healthy"] = healthy(t, healthyPods)
	for name, pods := range clusters {
		srv := httptest.NewServer(hostileapi.Handler(pods))
		defer srv.Close()
		urls[name] = srv.URL
	}
	json.NewEncoder(os.Stdout).Encode(urls)
	io.Copy(io.Discard, os.Stdin)
}

// startFakeAPIProcess runs TestFakeAPIProcess and returns the URLs it serves.
func startFakeAPIProcess(b *testing.B) map[string]string {
	return hostileapi.StartProcess(b, "TestFakeAPIProcess", "TAGDRIFT_FAKE_API_PROCESS")
}

// procStatus reads a field of /proc/self/status, in KiB.
func procStatus(b *testing.B, field string) int64 {
	b.Helper()
	n, err := hostileapi.ProcStatus(field)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// scanOnce scans the cluster at url with the scanner's settings and returns how long
// it took and its error.
func scanOnce(b *testing.B, url string) (time.Duration, error) {
	client, err := kube.NewClient("bench", kube.Configure(&rest.Config{Host: url}, "tagdrift/bench"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := client.Scan(ctx)
	if err == nil && len(res.Pods) != healthyPods {
		err = fmt.Errorf("%d pods", len(res.Pods))
	}
	return time.Since(start), err
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkHostileClusters scans the healthy cluster alone, then again with hostile
// clusters scanned at the same time, and reports the peak RSS
// of this process during the attack (VmHWM, reset before it) and the healthy scan's
// median time with the attack over its median time alone.
func BenchmarkHostileClusters(b *testing.B) {
	urls := startFakeAPIProcess(b)
	sets := [][]string{
		{"huge"}, {"endless"}, {"bigpods"}, {"empty"},
		{"huge", "endless", "bigpods", "empty"},
		{"endless", "endless", "endless", "endless"}, // the attack that keeps the most, four times
	}
	for _, set := range sets {
		b.Run(strings.Join(set, "+"), func(b *testing.B) {
			for b.Loop() {
				// What earlier runs left is returned to the system before each peak is reset.
				debug.FreeOSMemory()
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					b.Fatalf("reset the peak RSS: %v", err)
				}
				var alone []time.Duration
				for range 5 {
					d, err := scanOnce(b, urls["healthy"])
					if err != nil {
						b.Fatal(err)
					}
					alone = append(alone, d)
				}
				b.ReportMetric(float64(procStatus(b, "VmHWM"))/1024, "alone-peak-RSS-MiB")
				debug.FreeOSMemory()
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					b.Fatalf("reset the peak RSS: %v", err)
				}
				// Each hostile cluster is scanned when the healthy one is, at most one scan
				// of it at a time (as the scheduler runs scans): a hostile scan still under
				// way (endless pages) is not started again.
				var wg sync.WaitGroup
				var mu sync.Mutex
				hostileScans := 0
				var unexpected []error
				running := make([]bool, len(set))
				var attacked []time.Duration
				for range 5 {
					for i, name := range set {
						mu.Lock()
						if running[i] {
							mu.Unlock()
							continue
						}
						running[i] = true
						mu.Unlock()
						wg.Go(func() {
							_, err := scanOnce(b, urls[name])
							mu.Lock()
							defer mu.Unlock()
							running[i] = false
							hostileScans++
							if scanerr.Classify(err).Class != scanerr.TooLarge {
								unexpected = append(unexpected, fmt.Errorf("%s: %v", name, err))
							}
						})
					}
					d, err := scanOnce(b, urls["healthy"])
					if err != nil {
						b.Fatal(err)
					}
					attacked = append(attacked, d)
				}
				wg.Wait()
				if len(unexpected) > 0 {
					b.Fatalf("hostile scans did not fail as too large: %v", unexpected[:min(3, len(unexpected))])
				}
				b.ReportMetric(float64(procStatus(b, "VmHWM"))/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(median(alone).Milliseconds()), "healthy-alone-ms")
				b.ReportMetric(float64(median(attacked).Milliseconds()), "healthy-attacked-ms")
				b.ReportMetric(float64(median(attacked))/float64(median(alone)), "slowdown")
				b.ReportMetric(float64(hostileScans), "hostile-scans")
			}
		})
	}
}
