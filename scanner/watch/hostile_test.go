package watch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/hostileapi"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

// TestWatchHostileClusters watches fake API servers that send too much, with the caps
// serve uses (Configure) and a small MaxObjects: each watch stops with a
// *kube.TooLargeError naming what was too large, within seconds, its heap growing by
// less than maxHeap at its peak (client-go decoding a pod of 300,000 empty containers,
// in a list or in an event, takes about 360 MB).
func TestWatchHostileClusters(t *testing.T) {
	const maxHeap = 64 << 20
	for _, tc := range []struct {
		name string
		pods http.HandlerFunc
		what string
		// kept is MaxKeptBytes (MaxObjects then out of the way); default when 0, and
		// MaxObjects 2,000 when -1.
		kept int64
	}{
		{"one huge answer", hostileapi.ListAttack(hostileapi.Huge(400 << 20)), "response", 0},
		{"endless continue tokens", hostileapi.ListAttack(hostileapi.Endless), "objects", 0},
		{"empty containers", hostileapi.ListAttack(hostileapi.EmptyContainers(300_000)), "containers", 0},
		{"an event of empty containers", hostileapi.EmptyContainersEvent(300_000), "containers", 0},
		{"an oversized event", hostileapi.BigEvent(2 << 20), "event", 0},
		{"events of new pods without end", hostileapi.Flood, "objects", 0},
		{"more pods than the bytes kept", hostileapi.ListAttack(hostileapi.BigPods(500, 0)), "kept bytes", 20_000},
		{"events of pods past the bytes kept", hostileapi.Flood, "kept bytes", 20_000},
		{"ReplicaSets of 700 labels each", nil, "objects", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hostileapi.ReplicaSetsOfLabels(700)
			if tc.pods != nil {
				h = hostileapi.WatchHandler(tc.pods)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rc := watch.Configure(&rest.Config{Host: srv.URL}, "tagdrift-test", 0)
			objects := int64(1000)
			switch {
			case tc.kept > 0:
				objects = 1 << 40
			case tc.kept < 0: // four pages of ReplicaSets
				objects, tc.kept = 2000, 0
			}
			w, err := watch.New(watch.Config{Cluster: "hostile", REST: rc, MaxObjects: objects, MaxKeptBytes: tc.kept}, true)
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			base := heapObjects()
			peak, stopPeak := peakHeap()
			err = w.Run(ctx)
			stopPeak()
			grew := int64(peak.Load()) - int64(base)
			t.Logf("the heap grew by %.1f MiB at its peak", float64(grew)/(1<<20))
			if grew > maxHeap {
				t.Errorf("the heap grew by %d MiB during the watch, more than %d", grew>>20, maxHeap>>20)
			}
			var tl *kube.TooLargeError
			if !errors.As(err, &tl) {
				t.Fatalf("the watch ended with %v, want a *kube.TooLargeError", err)
			}
			if tl.What != tc.what {
				t.Errorf("too large: %q, want %q (%v)", tl.What, tc.what, err)
			}
			if ctx.Err() != nil {
				t.Error("the watch ran until the test's timeout")
			}
		})
	}
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakHeap samples the heap's objects every millisecond until stop is called, keeping
// the largest.
func peakHeap() (*atomic.Uint64, func()) {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return &peak, func() { close(done); <-stopped }
}
