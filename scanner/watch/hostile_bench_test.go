package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/hostileapi"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

// The hostile-cluster benchmark in watch mode: this process watches fake API servers
// that run in another process (so that the peak RSS measured is the watching
// process's alone), with the caps serve uses (Configure, the default MaxObjects and
// MaxEventBytes).
//
//	go test -run '^$' -bench HostileWatches -benchtime 1x -count 5 ./scanner/watch/

// healthyWatchPods is the size of the healthy cluster watched beside the attacks.
const healthyWatchPods = 5000

// attackTime is how long a hostile watch may run before it fails the benchmark:
// continue tokens without end stop at MaxObjects, 2,000 pages of 100 pods at the
// client's 25 requests a second.
const attackTime = 3 * time.Minute

// maxRSS is the size past which an attack is stopped and the benchmark fails: every
// attack together peaks at about 265 MiB (the pods of endless continue tokens and of
// the flood, up to the objects cap); client-go's decoding of a pod of 1.3 million
// empty containers alone took up to 1.8 GiB.
const maxRSS = 1 << 30

// TestFakeWatchAPIProcess is the benchmark's server process, run only when the
// benchmark starts it: it serves every fake cluster, prints their URLs as JSON, and
// serves until its standard input closes.
func TestFakeWatchAPIProcess(t *testing.T) {
	if os.Getenv("TAGDRIFT_FAKE_WATCH_API_PROCESS") != "1" {
		t.Skip("the benchmark's server process")
	}
	urls := map[string]string{}
	clusters := hostileapi.WatchAttacks()
	clusters["healthy"] = healthyWatched(t, healthyWatchPods)
	for name, pods := range clusters {
		srv := httptest.NewServer(hostileapi.WatchHandler(pods))
		defer srv.Close()
		urls[name] = srv.URL
	}
	json.NewEncoder(os.Stdout).Encode(urls)
	io.Copy(io.Discard, os.Stdin)
}

// healthyWatched serves pods in JSON pages as asked, and a watch of them (streaming
// lists refused) in which one pod's imageID moves every 100 ms.
func healthyWatched(tb testing.TB, n int) http.HandlerFunc {
	tb.Helper()
	pod := func(i, rv int) corev1.Pod {
		name := fmt.Sprintf("web-%05d", i)
		return corev1.Pod{
			TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("u-" + name),
				ResourceVersion: strconv.Itoa(rv), Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{
				{Name: "app", Image: "registry.example.com/shop/web:1", Env: []corev1.EnvVar{{Name: "MODE", Value: "production"}}},
				{Name: "proxy", Image: "envoyproxy/envoy:v1.30"},
			}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", ImageID: fmt.Sprintf("registry.example.com/shop/web@sha256:%064d", (i+rv)%3), Ready: true},
				{Name: "proxy", ImageID: fmt.Sprintf("docker.io/envoyproxy/envoy@sha256:%064d", 7), Ready: true},
			}},
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if hostileapi.IsWatch(r) {
			if hostileapi.RefuseStreamingList(w, r) {
				return
			}
			w.WriteHeader(http.StatusOK)
			enc := json.NewEncoder(w)
			for rv := 2; ; rv++ {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				p := pod(rv%n, rv)
				if err := enc.Encode(map[string]any{"type": "MODIFIED", "object": p}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		start, _ := strconv.Atoi(r.URL.Query().Get("continue"))
		if limit <= 0 {
			limit = n
		}
		end := min(start+limit, n)
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
		list.ResourceVersion = "1"
		if end < n {
			list.Continue = strconv.Itoa(end)
		}
		for i := start; i < end; i++ {
			list.Items = append(list.Items, pod(i, 1))
		}
		json.NewEncoder(w).Encode(&list)
	}
}

// startFakeWatchAPIProcess runs TestFakeWatchAPIProcess and returns the URLs it serves.
func startFakeWatchAPIProcess(b *testing.B) map[string]string {
	return hostileapi.StartProcess(b, "TestFakeWatchAPIProcess", "TAGDRIFT_FAKE_WATCH_API_PROCESS")
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

// resetPeak returns what earlier runs left to the system and resets VmHWM.
func resetPeak(b *testing.B) {
	b.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
}

// startWatch starts a watch of the cluster at url as serve does (Configure, CanListNodes,
// the default caps) and returns it with a channel of Run's result.
func startWatch(ctx context.Context, b *testing.B, name, url string) (*watch.Watch, <-chan error) {
	b.Helper()
	rc := watch.Configure(&rest.Config{Host: url}, "tagdrift/bench", 0)
	ended := make(chan error, 1)
	nodes, err := watch.CanListNodes(ctx, rc)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	w, err := watch.New(watch.Config{Cluster: name, REST: rc}, nodes)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	go func() { ended <- w.Run(ctx) }()
	return w, ended
}

// BenchmarkHostileWatches watches the healthy cluster alone, then again while hostile
// clusters are watched, and reports the peak RSS of this process during each (VmHWM,
// reset before it), how long the slowest hostile watch took to stop, and the changes
// the healthy watch saw during the attack. Every hostile watch must stop as too large,
// and the healthy one must stay synced, complete, and see changes.
func BenchmarkHostileWatches(b *testing.B) {
	urls := startFakeWatchAPIProcess(b)
	sets := [][]string{
		{"huge"}, {"endless"}, {"bigpods"}, {"empty"}, {"bigevent"}, {"emptyevent"}, {"flood"},
		{"huge", "endless", "bigpods", "empty", "bigevent", "emptyevent", "flood"},
		{"flood", "flood", "flood", "flood"}, // the attack that keeps the most, four times
	}
	for _, set := range sets {
		b.Run(strings.Join(set, "+"), func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				resetPeak(b)
				healthy, healthyEnded := startWatch(ctx, b, "healthy", urls["healthy"])
				waitSynced(b, healthy, healthyEnded, time.Minute)
				sawChange(b, healthy, healthyEnded)
				b.ReportMetric(float64(procStatus(b, "VmHWM"))/1024, "alone-peak-RSS-MiB")

				resetPeak(b)
				start := time.Now()
				// A watch that makes this process grow past maxRSS without stopping is
				// stopped, and fails the benchmark, before it takes the machine.
				actx, acancel := context.WithTimeout(ctx, attackTime)
				var grew atomic.Bool
				go func() {
					for actx.Err() == nil {
						if rss, err := hostileapi.ProcStatus("VmRSS"); err == nil && rss > maxRSS>>10 {
							grew.Store(true)
							acancel()
						}
						time.Sleep(50 * time.Millisecond)
					}
				}()
				var wg sync.WaitGroup
				var mu sync.Mutex
				var unexpected []error
				var slowest time.Duration
				for _, name := range set {
					wg.Go(func() {
						_, ended := startWatch(actx, b, name, urls[name])
						err := <-ended
						mu.Lock()
						defer mu.Unlock()
						slowest = max(slowest, time.Since(start))
						switch {
						case err == nil && grew.Load():
							err = fmt.Errorf("this process grew past %d MiB", maxRSS>>20)
						case err == nil:
							err = fmt.Errorf("did not stop within %s", attackTime)
						}
						if scanerr.Classify(err).Class != scanerr.TooLarge {
							unexpected = append(unexpected, fmt.Errorf("%s: %v", name, err))
						}
					})
				}
				// The healthy watch goes on during the attack: its changes are counted.
				// An attack that stops at once is still watched beside until the healthy
				// watch sees a change.
				attacked := make(chan struct{})
				first := make(chan struct{})
				changes := 0
				go func() {
					defer close(attacked)
					for {
						select {
						case <-healthy.Changed():
							if changes++; changes == 1 {
								close(first)
							}
						case <-ctx.Done():
							return
						}
					}
				}()
				wg.Wait()
				acancel()
				select {
				case <-first:
				case <-time.After(10 * time.Second):
				}
				peak := procStatus(b, "VmHWM")
				state := healthy.State()
				snap, err := healthy.Snapshot()
				cancel()
				<-attacked
				if err := <-healthyEnded; err != nil {
					b.Fatalf("the healthy watch stopped: %v", err)
				}
				if len(unexpected) > 0 {
					b.Fatalf("hostile watches did not stop as too large (peak RSS %d MiB): %v", peak>>10, unexpected)
				}
				if err != nil || len(snap.Pods) != healthyWatchPods || !state.BrokenSince.IsZero() {
					b.Fatalf("the healthy watch during the attack: %d pods, %v, broken since %v", len(snap.Pods), err, state.BrokenSince)
				}
				if changes == 0 {
					b.Fatal("the healthy watch saw no change during the attack")
				}
				b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(slowest.Milliseconds()), "stopped-ms")
				b.ReportMetric(float64(changes), "healthy-changes")
			}
		})
	}
}

// waitSynced waits for w's cache to sync, within a time.
func waitSynced(b *testing.B, w *watch.Watch, ended <-chan error, within time.Duration) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !w.Synced() {
		select {
		case err := <-ended:
			b.Fatalf("the watch stopped before it synced: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("the watch did not sync within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sawChange waits for w to see a change after it synced.
func sawChange(b *testing.B, w *watch.Watch, ended <-chan error) {
	b.Helper()
	select {
	case <-w.Changed(): // the initial adds
	default:
	}
	select {
	case <-w.Changed():
	case err := <-ended:
		b.Fatalf("the watch stopped: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("the watch saw no change within 10 s")
	}
}
