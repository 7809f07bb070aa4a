// Package watch keeps one cluster's pods, the ReplicaSets and Jobs that own them, and
// its nodes in a cache that client-go's shared informers hold up to date (list, then
// watch; expired resource versions and bookmarks are client-go's to handle), each
// object reduced as it arrives to the few fields tagdrift reads (compact.go). A
// change of those fields signals Changed; an update that changes none of them (a
// readiness flip, a heartbeat) is dropped. Snapshot turns a synced cache into the
// same inventory.Pod values a scan of package kube yields, through the same
// inventory.Builder, so every rule stays one code path.
//
// What a cluster sends is bounded as a scan's listing is: a list answer by
// kube.MaxResponseBytes, one watch event by Config.MaxEventBytes, and the objects the
// cache may hold by Config.MaxObjects; past either the watch stops with a
// *kube.TooLargeError.
package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

// Defaults of Config.
const (
	// DefaultMaxObjects is as many objects as a scan may read (kube.DefaultBudget).
	DefaultMaxObjects = 200_000
	// DefaultMaxEventBytes bounds one watch event: ten times what a large pod weighs.
	DefaultMaxEventBytes = 1 << 20
	// DefaultMaxKeptBytes bounds the pods one cluster's cache keeps (counted as if no
	// string were shared): DefaultMaxObjects pods of two containers with long names
	// and images take about 120 MiB so counted.
	DefaultMaxKeptBytes = 256 << 20
	// DefaultNodeRefresh is the default of Config.NodeRefresh: the full list of a
	// watched cluster (scheduler.WatchConfig.FullList).
	DefaultNodeRefresh = 30 * time.Minute
)

// Config configures one cluster's watch.
type Config struct {
	// Cluster is the cluster's name, as inventory Pods carry it.
	Cluster string
	// REST is the cluster's client configuration, unwrapped: Configure prepares it
	// (protobuf, rate limits, and the caps of list answers and watch events).
	REST *rest.Config
	// MaxObjects bounds the pods, ReplicaSets, Jobs and nodes the cache may hold.
	// Default DefaultMaxObjects.
	MaxObjects int64
	// MaxEventBytes bounds one watch event. Default DefaultMaxEventBytes.
	MaxEventBytes int64
	// MaxKeptBytes bounds what the cache keeps of pods, and what one list keeps of
	// them while it lists (so twice this while a full list replaces the cache).
	// Default DefaultMaxKeptBytes.
	MaxKeptBytes int64
	// NodeRefresh is how often the status of every node is read again (nodes are
	// watched as metadata; their status is read when a node is first seen): a runtime
	// upgraded in place shows within it. Default DefaultNodeRefresh.
	NodeRefresh time.Duration
	// Logger receives what fails; it should name the cluster.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ErrNotSynced is a Snapshot of a cache that has not listed everything yet.
var ErrNotSynced = errors.New("the watch has not synced yet")

// ForbiddenError is credentials that may list but not watch: the cluster is polled.
type ForbiddenError struct {
	What string
	Err  error
}

func (e *ForbiddenError) Error() string {
	return "the credentials may not watch " + e.What + ": " + e.Err.Error()
}
func (e *ForbiddenError) Unwrap() error { return e.Err }

// Watch is one cluster's cache.
type Watch struct {
	cfg     Config
	pods    cache.SharedIndexInformer
	owners  []cache.SharedIndexInformer // ReplicaSets, Jobs
	nodes   cache.SharedIndexInformer   // nil when nodes may not be listed
	status  *nodeStatuses               // what was read of the nodes' status
	changed chan struct{}
	objects atomic.Int64
	kept    atomic.Int64 // Pod.size of the cached pods

	mu          sync.Mutex
	fatal       error
	stop        context.CancelFunc
	brokenSince time.Time
	lastChange  time.Time
	dropped     int64
}

var (
	replicaSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	jobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// New prepares a watch; Run starts it. nodes tells whether nodes may be listed
// (CanListNodes): without, pods carry no node architecture or runtime, as in a scan.
func New(cfg Config, nodes bool) (*Watch, error) {
	cfg.MaxObjects = cmp.Or(cfg.MaxObjects, DefaultMaxObjects)
	cfg.MaxEventBytes = cmp.Or(cfg.MaxEventBytes, DefaultMaxEventBytes)
	cfg.MaxKeptBytes = cmp.Or(cfg.MaxKeptBytes, DefaultMaxKeptBytes)
	cfg.NodeRefresh = cmp.Or(cfg.NodeRefresh, DefaultNodeRefresh)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Watch{cfg: cfg, changed: make(chan struct{}, 1)}
	plain := rest.CopyConfig(cfg.REST) // for the nodes' status: see nodes.go
	cfg.REST = rest.CopyConfig(cfg.REST)
	cfg.REST.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &tripWire{next: rt, trip: w.fail, healthy: w.healthy,
			broken: func(err error) { w.failed("the API server", err) }}
	})
	w.cfg.REST = cfg.REST
	md, err := metadata.NewForConfig(cfg.REST)
	if err != nil {
		return nil, fmt.Errorf("metadata client for %s: %w", cfg.Cluster, err)
	}
	kc, err := kube.NewClient(cfg.Cluster, cfg.REST)
	if err != nil {
		return nil, err
	}
	// Pods are decoded by package kube as a scan's are, not by client-go (stream.go
	// there): a list is bounded across its pages by requests, bytes and kept bytes,
	// each event by its size and its containers.
	var listing *kube.Listing // the list under way; client-go lists once at a time
	w.pods = w.informer("pods", kube.PodPageSize, &decoded{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if o.Continue == "" || listing == nil {
				listing = kc.Listing(kube.Budget{Objects: math.MaxInt64, Kept: w.cfg.MaxKeptBytes,
					Requests: w.cfg.MaxObjects/kube.PodPageSize + 100})
			}
			out := &page[*decoded]{}
			lm, err := listing.PodPage(ctx, o, func(p *corev1.Pod) (int64, error) {
				d := newDecoded(p)
				out.Items = append(out.Items, d)
				return d.pod.size(), nil
			})
			out.ResourceVersion, out.Continue = lm.ResourceVersion, lm.Continue
			return out, err
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			pw, err := kc.WatchPods(ctx, o, w.cfg.MaxEventBytes)
			if err != nil {
				return nil, err
			}
			return w.podEvents(pw), nil
		},
		func(obj any) (any, error) {
			if d, ok := obj.(*decoded); ok && d.pod != nil {
				return d.pod, nil
			}
			return obj, nil
		},
		func(a, b any) bool { return a.(*Pod).equal(b.(*Pod)) })
	for _, gvr := range []schema.GroupVersionResource{replicaSets, jobs} {
		r := md.Resource(gvr)
		isRS := gvr == replicaSets
		var listing *kube.Listing
		w.owners = append(w.owners, w.informer(gvr.Resource, kube.MetadataPageSize, &metav1.PartialObjectMetadata{},
			// Listed by the scan's decoder as pods are, each compacted as it is read;
			// watched through client-go (an event is bounded by its size).
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				if o.Continue == "" || listing == nil {
					listing = kc.Listing(kube.Budget{Objects: math.MaxInt64, Kept: w.cfg.MaxKeptBytes,
						Requests: w.cfg.MaxObjects/kube.MetadataPageSize + 100})
				}
				out := &page[*Owned]{}
				lm, err := listing.OwnerPage(ctx, isRS, o, func(m *metav1.PartialObjectMetadata) (int64, error) {
					c := compactOwned(m, isRS)
					out.Items = append(out.Items, c)
					return c.size(), nil
				})
				out.ResourceVersion, out.Continue = lm.ResourceVersion, lm.Continue
				return out, err
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return r.Watch(ctx, o) },
			func(obj any) (any, error) {
				if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
					return compactOwned(m, gvr == replicaSets), nil
				}
				return obj, nil
			},
			func(a, b any) bool { return a.(*Owned).sameOwner(b.(*Owned)) }))
	}
	if nodes {
		r := md.Resource(corev1.SchemeGroupVersion.WithResource("nodes"))
		w.nodes = w.informer("nodes", kube.NodePageSize, &metav1.PartialObjectMetadata{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return r.Watch(ctx, o) },
			func(obj any) (any, error) {
				if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
					return compactNode(m), nil
				}
				return obj, nil
			},
			func(a, b any) bool { return *a.(*Node) == *b.(*Node) })
		client, err := kube.NewClient(cfg.Cluster, plain)
		if err != nil {
			return nil, err
		}
		w.status = w.followStatus(client)
	}
	return w, nil
}

// CanListNodes tells whether cfg's credentials may list nodes; a forbidden answer is
// false, not an error, as in a scan.
func CanListNodes(ctx context.Context, cfg *rest.Config) (bool, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false, err
	}
	_, err = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
	if apierrors.IsForbidden(err) {
		return false, nil
	}
	if err != nil {
		return false, &kube.ListError{What: "nodes", Err: err}
	}
	return true, nil
}

// informer makes one informer of what: its lists paged by pageSize (from etcd, as a
// scan's, rather than one answer of every object from the watch cache), its watches
// counted against MaxObjects, its objects reduced by transform, and its handlers
// signalling a change unless same says the kept fields did not change.
func (w *Watch) informer(what string, pageSize int64, example runtime.Object,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
	transform cache.TransformFunc, same func(a, b any) bool) cache.SharedIndexInformer {
	var listed atomic.Int64 // the objects of the list under way, its pages so far
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if o.Continue == "" {
				o.ResourceVersion, o.ResourceVersionMatch = "", ""
			}
			o.Limit = pageSize
			first := o.Continue == ""
			obj, err := list(ctx, o)
			if err != nil {
				w.failed(what, err)
				return nil, err
			}
			if n, err := metaLen(obj); err == nil {
				// client-go holds every page of a list until its last: the pages of
				// one list count together (continue tokens without end stop here).
				if first {
					listed.Store(0)
				}
				if total := listed.Add(int64(n)); total > w.cfg.MaxObjects || int64(n)+w.objects.Load() > w.cfg.MaxObjects {
					err := &kube.TooLargeError{What: "objects", Limit: w.cfg.MaxObjects}
					w.fail(err)
					return nil, err
				}
			}
			if err := tooManyContainers(obj); err != nil {
				w.fail(err)
				return nil, err
			}
			return obj, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wi, err := watchFn(ctx, o)
			if err != nil {
				w.failed(what, err)
				return nil, err
			}
			w.healthy()
			return w.count(wi), nil
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{})
	_ = inf.SetTransform(transform)
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.failed(what, err)
	})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n := w.objects.Add(1); n > w.cfg.MaxObjects {
				w.fail(&kube.TooLargeError{What: "objects", Limit: w.cfg.MaxObjects})
				return
			}
			if !w.keep(keptSize(obj)) {
				return
			}
			w.signal()
		},
		UpdateFunc: func(old, cur any) {
			if !w.keep(keptSize(cur) - keptSize(old)) {
				return
			}
			if same(old, cur) {
				w.mu.Lock()
				w.dropped++
				w.mu.Unlock()
				return
			}
			w.signal()
		},
		DeleteFunc: func(obj any) {
			w.objects.Add(-1)
			w.keep(-keptSize(obj))
			w.signal()
		},
	})
	return inf
}

// keep charges n more kept bytes to the cache; past MaxKeptBytes it stops the watch.
func (w *Watch) keep(n int64) bool {
	if w.kept.Add(n) > w.cfg.MaxKeptBytes {
		w.fail(&kube.TooLargeError{What: "kept bytes", Limit: w.cfg.MaxKeptBytes})
		return false
	}
	return true
}

// keptSize is what a cached object counts against MaxKeptBytes: a pod's or a
// ReplicaSet's or Job's size; nodes are bounded by their count.
func keptSize(obj any) int64 {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	switch o := obj.(type) {
	case *Pod:
		return o.size()
	case *Owned:
		return o.size()
	}
	return 0
}

func metaLen(obj runtime.Object) (int, error) {
	switch l := obj.(type) {
	case *page[*decoded]:
		return len(l.Items), nil
	case *page[*Owned]:
		return len(l.Items), nil
	case *corev1.PodList:
		return len(l.Items), nil
	case *metav1.PartialObjectMetadataList:
		return len(l.Items), nil
	}
	return 0, errors.New("not a list")
}

// tooManyContainers refuses a pod, or a list of pods, of more than kube.MaxContainers
// containers of one kind, as a scan's decoder does (a pod of empty containers is a
// few bytes on the wire each, hundreds once decoded).
func tooManyContainers(obj runtime.Object) error {
	check := func(p *corev1.Pod) error {
		if max(len(p.Spec.Containers), len(p.Spec.InitContainers), len(p.Spec.EphemeralContainers),
			len(p.Status.ContainerStatuses), len(p.Status.InitContainerStatuses),
			len(p.Status.EphemeralContainerStatuses)) > kube.MaxContainers {
			return &kube.TooLargeError{What: "containers", Limit: kube.MaxContainers}
		}
		return nil
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return check(o)
	case *corev1.PodList:
		for i := range o.Items {
			if err := check(&o.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// count stops a watch whose stream adds more objects, or more kept bytes of pods, than
// the cache may hold (the initial events of a streaming list arrive before any
// handler sees them).
func (w *Watch) count(in watch.Interface) watch.Interface {
	out := make(chan watch.Event)
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done); in.Stop() }) }
	go func() {
		defer close(out)
		added, kept := int64(0), int64(0)
		for {
			select {
			case ev, ok := <-in.ResultChan():
				if !ok {
					return
				}
				if ev.Type == watch.Added {
					if added++; added+w.objects.Load() > w.cfg.MaxObjects {
						w.fail(&kube.TooLargeError{What: "objects", Limit: w.cfg.MaxObjects})
						stop()
						return
					}
					if d, ok := ev.Object.(*decoded); ok && d.pod != nil {
						if kept += d.pod.size(); kept+w.kept.Load() > w.cfg.MaxKeptBytes {
							w.fail(&kube.TooLargeError{What: "kept bytes", Limit: w.cfg.MaxKeptBytes})
							stop()
							return
						}
					}
				}
				if err := tooManyContainers(ev.Object); err != nil {
					w.fail(err)
					stop()
					return
				}
				select {
				case out <- ev:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return &proxy{out: out, stop: stop}
}

// podEvents turns pw's events into the informer's: a pod as a *decoded, an error's
// Status as it is. An event too large, or of too many containers, stops the watch; a
// malformed one ends this stream (client-go watches again).
func (w *Watch) podEvents(pw *kube.PodWatch) watch.Interface {
	out := make(chan watch.Event)
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done); pw.Close() }) }
	go func() {
		defer close(out)
		for {
			ev, err := pw.Next()
			if err != nil {
				var tl *kube.TooLargeError
				switch {
				case errors.As(err, &tl):
					w.fail(err)
				case errors.Is(err, kube.ErrMalformed):
					w.failed("pods", err)
				}
				pw.Close()
				return
			}
			var obj runtime.Object = ev.Status
			if ev.Pod != nil {
				obj = newDecoded(ev.Pod)
			}
			select {
			case out <- watch.Event{Type: ev.Type, Object: obj}:
			case <-done:
				return
			}
		}
	}()
	return &proxy{out: out, stop: stop}
}

type proxy struct {
	out  chan watch.Event
	stop func()
}

func (p *proxy) Stop()                          { p.stop() }
func (p *proxy) ResultChan() <-chan watch.Event { return p.out }

// signal marks the cache changed.
func (w *Watch) signal() {
	w.mu.Lock()
	w.lastChange = w.cfg.Now()
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// failed records a failed list or watch: the watch is broken from the first such
// failure until a watch connects again. Credentials that may not watch stop it.
func (w *Watch) failed(what string, err error) {
	var tl *kube.TooLargeError
	switch {
	case errors.As(err, &tl):
		w.fail(err)
		return
	case apierrors.IsForbidden(err):
		w.fail(&ForbiddenError{What: what, Err: err})
		return
	case errors.Is(err, context.Canceled):
		return
	}
	w.mu.Lock()
	if w.brokenSince.IsZero() {
		w.brokenSince = w.cfg.Now()
	}
	w.mu.Unlock()
	w.cfg.Logger.Debug("watch failed", "resource", what, "error", err.Error())
}

func (w *Watch) healthy() {
	w.mu.Lock()
	w.brokenSince = time.Time{}
	w.mu.Unlock()
}

// fail stops the watch with err.
func (w *Watch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fatal == nil {
		w.fatal = err
	}
	if w.stop != nil {
		w.stop()
	}
}

// Run runs the informers until ctx ends or the watch fails for good (a
// *kube.TooLargeError, a *ForbiddenError); it returns that error, or nil when ctx
// ended.
func (w *Watch) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	w.stop = cancel
	err := w.fatal
	w.mu.Unlock()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, inf := range w.informers() {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	if w.status != nil {
		wg.Go(func() { w.status.run(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fatal
}

func (w *Watch) informers() []cache.SharedIndexInformer {
	out := append([]cache.SharedIndexInformer{w.pods}, w.owners...)
	if w.nodes != nil {
		out = append(out, w.nodes)
	}
	return out
}

// Changed receives a value after the kept fields of an object changed (at most one
// waits: changes in between merge).
func (w *Watch) Changed() <-chan struct{} { return w.changed }

// Synced tells whether every informer has listed everything once, and the status of
// every node in the cache has been read.
func (w *Watch) Synced() bool {
	for _, inf := range w.informers() {
		if !inf.HasSynced() {
			return false
		}
	}
	return w.status == nil || w.status.complete()
}

// State is how the watch stands.
type State struct {
	Synced bool
	// BrokenSince is when the watch last failed to list or watch and has not
	// connected again since; zero when it is connected.
	BrokenSince time.Time
	// LastChange is when the kept fields of an object last changed.
	LastChange time.Time
	// Objects is what the cache holds; Dropped counts the updates that changed no kept
	// field.
	Objects int64
	Dropped int64
}

// State returns how the watch stands.
func (w *Watch) State() State {
	synced := w.Synced()
	w.mu.Lock()
	defer w.mu.Unlock()
	return State{Synced: synced, BrokenSince: w.brokenSince, LastChange: w.lastChange, Objects: w.objects.Load(), Dropped: w.dropped}
}

// ReplicaSets returns the cache's ReplicaSets as kube.Client.ReplicaSets lists them
// for the annotation (names, UID, controller, and tagdrift's own labels, annotations
// and managedFields entries), so that a watched cluster's annotation lists nothing.
// It fails with ErrNotSynced before every informer has synced.
func (w *Watch) ReplicaSets() ([]metav1.PartialObjectMetadata, error) {
	if !w.Synced() {
		return nil, ErrNotSynced
	}
	objs := w.owners[0].GetStore().List()
	out := make([]metav1.PartialObjectMetadata, 0, len(objs))
	for _, obj := range objs {
		out = append(out, obj.(*Owned).replicaSet())
	}
	slices.SortFunc(out, func(a, b metav1.PartialObjectMetadata) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// Snapshot is a synced cache's inventory, as a scan's kube.Result gives it.
type Snapshot struct {
	Pods        []inventory.Pod
	Containers  int
	NodesListed bool
}

// Snapshot returns the cache's inventory: the pods sorted by namespace and name (as a
// list returns them), built by inventory.Builder as a scan's are. It fails with
// ErrNotSynced before every informer has synced: a cache that has not listed
// everything must never be taken as "these pods are gone".
func (w *Watch) Snapshot() (Snapshot, error) {
	if !w.Synced() {
		return Snapshot{}, ErrNotSynced
	}
	owners := inventory.Owners{}
	for _, inf := range w.owners {
		for _, obj := range inf.GetStore().List() {
			o := obj.(*Owned)
			if o.ctlKind != (str{}) || o.ctlName != (str{}) {
				owners[o.uid] = inventory.Owner{Kind: o.ctlKind.String(), Name: o.ctlName.String()}
			}
		}
	}
	nodes := map[string]inventory.Node{}
	if w.status != nil && !w.status.fill(nodes) {
		return Snapshot{}, ErrNotSynced // a node came whose status is being read
	}
	objs := w.pods.GetStore().List()
	pods := make([]*Pod, len(objs))
	for i, obj := range objs {
		pods[i] = obj.(*Pod)
	}
	slices.SortFunc(pods, func(a, b *Pod) int {
		return cmp.Or(strings.Compare(a.namespace.String(), b.namespace.String()), strings.Compare(a.name, b.name))
	})
	b := inventory.NewBuilder(w.cfg.Cluster, owners, nodes)
	snap := Snapshot{Pods: make([]inventory.Pod, 0, len(pods)), NodesListed: w.nodes != nil}
	for _, p := range pods {
		ip := b.Pod(p.pod())
		snap.Containers += len(ip.Containers)
		snap.Pods = append(snap.Pods, ip)
	}
	return snap, nil
}
