package watch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/hostileapi"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

// TestWatchHostileClusters watches fake API servers that send too much, with the caps
// serve uses (Configure) and a small MaxObjects: each watch stops with a
// *kube.TooLargeError naming what was too large, within seconds, having allocated
// less than maxAlloc (client-go decoding a pod of 300,000 empty containers, in a list
// or in an event, allocates about 360 MB).
func TestWatchHostileClusters(t *testing.T) {
	const maxAlloc = 64 << 20
	for _, tc := range []struct {
		name string
		pods http.HandlerFunc
		what string
		kept int64 // MaxKeptBytes (MaxObjects then out of the way); default when 0
	}{
		{"one huge answer", hostileapi.ListAttack(hostileapi.Huge(400 << 20)), "response", 0},
		{"endless continue tokens", hostileapi.ListAttack(hostileapi.Endless), "objects", 0},
		{"empty containers", hostileapi.ListAttack(hostileapi.EmptyContainers(300_000)), "containers", 0},
		{"an event of empty containers", hostileapi.EmptyContainersEvent(300_000), "containers", 0},
		{"an oversized event", hostileapi.BigEvent(2 << 20), "event", 0},
		{"events of new pods without end", hostileapi.Flood, "objects", 0},
		{"more pods than the bytes kept", hostileapi.ListAttack(hostileapi.BigPods(500, 0)), "kept bytes", 20_000},
		{"events of pods past the bytes kept", hostileapi.Flood, "kept bytes", 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(hostileapi.WatchHandler(tc.pods))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rc := watch.Configure(&rest.Config{Host: srv.URL}, "tagdrift-test", 0)
			objects := int64(1000)
			if tc.kept != 0 {
				objects = 1 << 40
			}
			w, err := watch.New(watch.Config{Cluster: "hostile", REST: rc, MaxObjects: objects, MaxKeptBytes: tc.kept}, true)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err = w.Run(ctx)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
				t.Errorf("the watch allocated %d MiB, more than %d", alloc>>20, maxAlloc>>20)
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
