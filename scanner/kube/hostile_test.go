package kube_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	pbserializer "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/internal/hostileapi"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/scanner/scanerr"
)

// fakeAPI serves pods through hostileapi.Handler and returns a configuration for it
// and a count of its requests.
func fakeAPI(tb testing.TB, pods http.HandlerFunc) (*rest.Config, *atomic.Int64) {
	tb.Helper()
	var requests atomic.Int64
	h := hostileapi.Handler(pods)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return kube.Configure(&rest.Config{Host: srv.URL}, "tagdrift/test"), &requests
}

// healthy serves pods (two containers each) in protobuf, as a real API server does.
func healthy(tb testing.TB, pods int) http.HandlerFunc {
	tb.Helper()
	var list corev1.PodList
	list.TypeMeta = metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}
	for i := range pods {
		name := fmt.Sprintf("web-%05d", i)
		list.Items = append(list.Items, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("u-" + name),
				Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{
				{Name: "app", Image: "registry.example.com/shop/web:1", Env: []corev1.EnvVar{{Name: "MODE", Value: "production"}}},
				{Name: "proxy", Image: "envoyproxy/envoy:v1.30"},
			}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", ImageID: fmt.Sprintf("registry.example.com/shop/web@sha256:%064d", i%3), Ready: true},
				{Name: "proxy", ImageID: fmt.Sprintf("docker.io/envoyproxy/envoy@sha256:%064d", 7), Ready: true},
			}},
		})
	}
	s := pbserializer.NewSerializer(scheme.Scheme, scheme.Scheme)
	// Pages are encoded once, per limit asked; the server then only writes them.
	var mu sync.Mutex
	pages := map[string][]byte{}
	return func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		start, _ := strconv.Atoi(r.URL.Query().Get("continue"))
		key := fmt.Sprint(limit, "/", start)
		mu.Lock()
		body, ok := pages[key]
		if !ok {
			end := min(start+limit, pods)
			page := corev1.PodList{TypeMeta: list.TypeMeta, Items: list.Items[start:end]}
			if end < pods {
				page.Continue = strconv.Itoa(end)
			}
			var buf bytes.Buffer
			if err := s.Encode(&page, &buf); err != nil {
				mu.Unlock()
				http.Error(w, err.Error(), 500)
				return
			}
			body = buf.Bytes()
			pages[key] = body
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		w.Write(body)
	}
}

// heapPeak samples the heap in use until stop is called, and returns its peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestHostileClusterIsBounded scans fake API servers that send too much, each in its
// own way, and checks that each scan fails quickly with the class "too large", keeps
// nothing, and holds a bounded heap meanwhile.
func TestHostileClusterIsBounded(t *testing.T) {
	attacks := []struct {
		name string
		pods http.HandlerFunc
	}{
		{"one huge answer", hostileapi.Attacks()["huge"]},
		{"endless continue tokens", hostileapi.Attacks()["endless"]},
		{"big pods", hostileapi.Attacks()["bigpods"]},
		{"empty containers", hostileapi.Attacks()["empty"]},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			cfg, _ := fakeAPI(t, a.pods)
			cfg.QPS = -1 // no client-side rate limit: the budget alone must end it
			client, err := kube.NewClient("hostile", cfg)
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			stop := heapPeak()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := client.Scan(ctx)
			took := time.Since(start)
			peak := stop()
			if got := scanerr.Classify(err); got.Class != scanerr.TooLarge {
				t.Fatalf("class %q (%v), want %q", got.Class, err, scanerr.TooLarge)
			}
			if len(res.Pods) != 0 || res.Containers != 0 {
				t.Errorf("the failed scan kept %d pods", len(res.Pods))
			}
			// The budget keeps 24 MiB at most, an answer is 4 MiB at most (with io.ReadAll's
			// growth, twice that), and the walk's garbage is collected as it goes.
			growth := int64(peak) - int64(before.HeapInuse)
			t.Logf("%s: %v after %v, heap in use grew by %d MiB at most", a.name, err, took.Round(time.Millisecond), growth>>20)
			if growth > 80<<20 {
				t.Errorf("heap in use grew by %d MiB, want at most 80", growth>>20)
			}
			if took > 30*time.Second {
				t.Errorf("the scan took %v to fail", took)
			}
		})
	}
}

// TestHealthyClusterScans checks that a healthy cluster of several pages scans whole
// through the same bounds.
func TestHealthyClusterScans(t *testing.T) {
	cfg, requests := fakeAPI(t, healthy(t, 1234))
	client, err := kube.NewClient("healthy", cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pods) != 1234 || res.Containers != 2468 {
		t.Errorf("%d pods and %d containers, want 1234 and 2468", len(res.Pods), res.Containers)
	}
	p := res.Pods[1233]
	if p.Name != "web-01233" || p.Controller.Revision != "" || len(p.Containers) != 2 || !p.Containers[0].Observed() {
		t.Errorf("last pod %+v", p)
	}
	// 13 pages of pods, one each of ReplicaSets, Jobs and nodes.
	if got := requests.Load(); got != 16 {
		t.Errorf("%d requests, want 16", got)
	}
}

// TestResponseCap checks the transport's cap on its own: an answer of exactly the cap
// is read whole, one byte more fails with a *kube.TooLargeError, and so does a
// declared Content-Length past it before any byte is read.
func TestResponseCap(t *testing.T) {
	var size atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("declared") != "" {
			w.Header().Set("Content-Length", strconv.FormatInt(size.Load(), 10))
		}
		w.Write(bytes.Repeat([]byte("x"), int(size.Load())))
	}))
	defer srv.Close()
	client := &http.Client{Transport: kube.LimitResponses(1000)(http.DefaultTransport)}
	get := func(n int64, declared bool) (int, error) {
		size.Store(n)
		u := srv.URL
		if declared {
			u += "?declared=1"
		}
		resp, err := client.Get(u)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		return buf.Len(), err
	}
	if n, err := get(1000, false); err != nil || n != 1000 {
		t.Errorf("1000 bytes: read %d, %v", n, err)
	}
	var tl *kube.TooLargeError
	if n, err := get(1001, false); !errors.As(err, &tl) || n > 1000 {
		t.Errorf("1001 bytes: read %d, %v", n, err)
	}
	if _, err := get(5000, true); !errors.As(err, &tl) {
		t.Errorf("declared 5000 bytes: %v", err)
	}
}

// TestExpiredContinueRestartsBounded answers every continue token with 410 Gone, as an
// API server does once etcd compacted past the list's revision: the list starts over
// a bounded number of times, then fails; ReplicaSets (the annotation client's own
// listing) as well as pods.
func TestExpiredContinueRestartsBounded(t *testing.T) {
	var firsts atomic.Int64
	gone := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("continue") != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410}`)
			return
		}
		firsts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"more"},"items":[`+hostileapi.Pod("p", 0)+`]}`)
	}
	cfg, _ := fakeAPI(t, gone)
	client, err := kube.NewClient("gone", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Scan(context.Background()); err == nil || scanerr.Classify(err).Status != http.StatusGone {
		t.Errorf("err = %v, want 410", err)
	}
	if got := firsts.Load(); got != 4 {
		t.Errorf("the list started %d times, want 4 (3 restarts)", got)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/apps/v1/replicasets" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("continue") != "" {
			w.WriteHeader(http.StatusGone)
			return
		}
		firsts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"continue":"more"},"items":[]}`)
	}))
	defer srv.Close()
	firsts.Store(0)
	client, err = kube.NewClient("gone", kube.Configure(&rest.Config{Host: srv.URL}, "test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReplicaSets(context.Background(), "", ""); err == nil {
		t.Error("listing ReplicaSets did not fail")
	}
	if got := firsts.Load(); got != 4 {
		t.Errorf("the ReplicaSet list started %d times, want 4", got)
	}
}

// TestKeptEstimate checks the budget's estimate of what a scan keeps against the heap
// the result really takes: the budget bounds memory only as well as it estimates it.
func TestKeptEstimate(t *testing.T) {
	cfg, _ := fakeAPI(t, healthy(t, 20_000))
	cfg.QPS = -1
	client, err := kube.NewClient("kept", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Scan(context.Background()); err != nil { // the server caches its pages
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := client.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(res)
	t.Logf("20,000 pods: %d KiB live, %d KiB estimated", live>>10, res.Kept>>10)
	if live > res.Kept*5/4 || live < res.Kept/2 {
		t.Errorf("the result takes %d KiB, the budget was charged %d KiB", live>>10, res.Kept>>10)
	}
}
