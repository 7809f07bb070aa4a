package watch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/hostileapi"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/watch"
)

// TestWatchHostileClusters watches fake API servers that send too much, with the caps
// serve uses (Configure) and a small MaxObjects: each watch stops with a
// *kube.TooLargeError naming what was too large, within seconds.
func TestWatchHostileClusters(t *testing.T) {
	for _, tc := range []struct {
		name string
		pods http.HandlerFunc
		what string
	}{
		{"one huge answer", hostileapi.ListAttack(hostileapi.Huge(400 << 20)), "response"},
		{"endless continue tokens", hostileapi.ListAttack(hostileapi.Endless), "objects"},
		{"empty containers", hostileapi.ListAttack(hostileapi.EmptyContainers(20_000)), "containers"},
		{"an oversized event", hostileapi.BigEvent(2 << 20), "event"},
		{"events of new pods without end", hostileapi.Flood, "objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(hostileapi.WatchHandler(tc.pods))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rc := watch.Configure(&rest.Config{Host: srv.URL}, "tagdrift-test", 0)
			w, err := watch.New(watch.Config{Cluster: "hostile", REST: rc, MaxObjects: 1000}, true)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Run(ctx)
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
