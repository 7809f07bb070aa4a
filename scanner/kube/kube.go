// Package kube lists what a scan needs from one cluster: pods, the ReplicaSets and Jobs
// that own them, and nodes, each paginated and bounded (limit.go): a cluster is
// untrusted, and what it sends must never take the service's memory. It returns an
// inventory; it decides nothing.
package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// Page sizes: how many objects one list request asks for. A page must fit in
// MaxResponseBytes with room to spare: pods and nodes are whole objects (a node's
// status lists its images), ReplicaSets and Jobs only metadata.
const (
	PodPageSize      = 100
	NodePageSize     = 100
	MetadataPageSize = 500
)

// Client settings for a background scanner: protobuf on the wire, and a request rate
// that keeps a retry storm gentle while a scan of 40,000 pods (400 pages of
// PodPageSize) still takes under 20 seconds of it.
const (
	clientQPS   = 25
	clientBurst = 50
	protobuf    = "application/vnd.kubernetes.protobuf"
	// metadataAccept asks for lists of PartialObjectMetadata, as client-go's metadata
	// client does.
	metadataAccept = protobuf + ";as=PartialObjectMetadataList;g=meta.k8s.io;v=v1," +
		"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
)

// Configure sets the content type, rate limits and user agent tagdrift uses on a copy of
// cfg, and caps every response at MaxResponseBytes.
func Configure(cfg *rest.Config, userAgent string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = protobuf
	cfg.AcceptContentTypes = protobuf + ",application/json"
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	if userAgent != "" {
		cfg.UserAgent = userAgent
	}
	cfg.Wrap(LimitResponses(MaxResponseBytes))
	return cfg
}

// ListError is a list call that failed: What names the resource.
type ListError struct {
	What string
	Err  error
}

func (e *ListError) Error() string { return "list " + e.What + ": " + e.Err.Error() }
func (e *ListError) Unwrap() error { return e.Err }

// Result is one cluster's inventory.
type Result struct {
	Pods       []inventory.Pod
	Containers int
	// NodesListed is false when nodes could not be listed (forbidden): pods then carry
	// no node architecture or runtime.
	NodesListed bool
	// ReplicaSets are the cluster's ReplicaSets as listed, for the annotation of their
	// verdict: name, namespace and uid, and of the rest only tagdrift's own keys
	// (ReplicaSetKeys) and its field manager's managedFields entries.
	ReplicaSets []metav1.PartialObjectMetadata
	// Kept is the estimate of the memory the Result takes, as charged to the Budget.
	Kept int64
}

// ReplicaSetKeys says what is kept of a ReplicaSet's labels, annotations and
// managedFields: the keys package annotate writes, and its field manager. (Package
// annotate's tests hold the two to the same names.)
func ReplicaSetKeys() (labels, annotations []string, manager string) {
	return []string{"is-mutant"}, []string{"mutant/status", "tagdrift.io/mutations"}, "tagdrift"
}

func replicaSetKeep() keep {
	labels, annotations, manager := ReplicaSetKeys()
	return keep{labels: labels, annotations: annotations, controller: true, manager: manager}
}

// Client lists one cluster.
type Client struct {
	name   string
	core   rest.Interface
	apps   rest.Interface
	batch  rest.Interface
	budget Budget
}

// NewClient makes a Client for the cluster named name from cfg, which Configure should
// have prepared. Its scans have the DefaultBudget.
func NewClient(name string, cfg *rest.Config) (*Client, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", name, err)
	}
	return &Client{name: name, core: cs.CoreV1().RESTClient(), apps: cs.AppsV1().RESTClient(),
		batch: cs.BatchV1().RESTClient(), budget: DefaultBudget()}, nil
}

// WithBudget sets the budget of the client's scans.
func (c *Client) WithBudget(b Budget) *Client {
	c.budget = b.withDefaults()
	return c
}

// Scan lists the cluster: ReplicaSets and Jobs (as metadata), nodes, then pods, one
// list after the other so that one answer at a time is held, each decoded page by
// page into the few fields the inventory reads (decode.go). What the cluster sends is
// bounded by MaxResponseBytes per answer and by the client's Budget per scan; past
// either the scan fails with a *TooLargeError. A scan that fails returns no Result:
// a partial listing must never be taken as "these pods are gone".
func (c *Client) Scan(ctx context.Context) (Result, error) {
	t := newTracker(c.budget)
	owners := inventory.Owners{}
	rss, err := c.listOwners(ctx, t, c.apps, replicaSets, owners, true)
	if err != nil {
		return Result{}, err
	}
	if _, err := c.listOwners(ctx, t, c.batch, jobs, owners, false); err != nil {
		return Result{}, err
	}
	nodes := map[string]inventory.Node{}
	nodesListed, err := c.listNodes(ctx, t, nodes)
	if err != nil {
		return Result{}, err
	}

	res := Result{NodesListed: nodesListed, ReplicaSets: rss}
	b := inventory.NewBuilder(c.name, owners, nodes)
	seen := map[any]bool{}
	err = c.pages(ctx, t, c.core, "pods", "", PodPageSize, func(body []byte) (string, error) {
		add := func(p *corev1.Pod) error {
			ip := b.Pod(p)
			res.Containers += len(ip.Containers)
			// The slice is charged as it grows, its spare capacity included; the arrays
			// it leaves are garbage, the collector's to reclaim.
			was := cap(res.Pods)
			res.Pods = append(res.Pods, ip)
			return t.keep(keptPod(&ip, seen) + int64(cap(res.Pods)-was)*sizeOf[inventory.Pod]())
		}
		return list(body, "PodList", func(item []byte) error {
			var p corev1.Pod
			if err := pbPod(t, item, &p); err != nil {
				return err
			}
			return add(&p)
		}, func(d *jsonDec) error {
			var p corev1.Pod
			if err := jsPod(t, d, &p); err != nil {
				return err
			}
			return add(&p)
		})
	}, func() { res = Result{NodesListed: nodesListed, ReplicaSets: rss}; clear(seen) })
	if err != nil {
		return Result{}, &ListError{What: "pods", Err: err}
	}
	res.Kept = t.kept
	return res, nil
}

// keptPod estimates what an inventory Pod takes beside its record: its strings, and its
// containers with their names. The parsed image references and IDs are shared
// between containers (inventory.Builder): each is charged the first time, seen
// remembers which were.
func keptPod(p *inventory.Pod, seen map[any]bool) int64 {
	n := int64(len(p.Namespace) + len(p.Name) + len(p.UID) + len(p.Node) +
		len(p.Workload.Name) + len(p.Controller.Name) + len(p.Controller.UID) + len(p.Controller.Revision))
	for i := range p.Containers {
		c := &p.Containers[i]
		n += sizeOf[inventory.Container]() + int64(len(c.Name))
		if c.Ref != nil && !seen[c.Ref] {
			seen[c.Ref] = true
			n += sizeOf[imageref.Ref]() + 2*mapEntrySize +
				int64(len(c.Ref.Written)+len(c.Ref.Normalized)+len(c.Ref.Repository)+len(c.Ref.Pin))
		}
		if c.ID != nil && !seen[c.ID] {
			seen[c.ID] = true
			n += sizeOf[imageref.ID]() + 2*mapEntrySize + int64(len(c.ID.Raw)+len(c.ID.Digest)+len(c.ID.Repository))
		}
	}
	return n
}

var (
	replicaSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	jobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// pages lists resource through r page by page, calling decode with each answer; the
// requests, the bytes read and what decode keeps are charged to t. reset is called
// when the list starts over (paginate).
func (c *Client) pages(ctx context.Context, t *tracker, r rest.Interface, resource, accept string, limit int64,
	decode func(body []byte) (string, error), reset func()) error {
	return c.pagesIn(ctx, t, r, "", "", resource, accept, limit, decode, reset)
}

// pagesIn is pages in one namespace (all when empty), with a field selector.
func (c *Client) pagesIn(ctx context.Context, t *tracker, r rest.Interface, namespace, selector, resource, accept string,
	limit int64, decode func(body []byte) (string, error), reset func()) error {
	start := t.mark()
	return paginate(ctx, limit, func(opts metav1.ListOptions) (string, error) {
		if err := t.request(); err != nil {
			return "", err
		}
		opts.FieldSelector = selector
		req := r.Get().Namespace(namespace).Resource(resource).VersionedParams(&opts, scheme.ParameterCodec)
		if accept != "" {
			req.SetHeader("Accept", accept)
		}
		body, err := req.DoRaw(ctx)
		if err != nil {
			return "", err
		}
		if err := t.read(len(body)); err != nil {
			return "", err
		}
		return decode(body)
	}, func() { t.rewind(start); reset() })
}

// ReplicaSets lists the ReplicaSets of namespace (every namespace when empty) that
// match the field selector (all when empty), with the bounds and the fields of a
// scan's listing (a budget of their own), for the annotation client.
func (c *Client) ReplicaSets(ctx context.Context, namespace, selector string) ([]metav1.PartialObjectMetadata, error) {
	t := newTracker(c.budget)
	k := replicaSetKeep()
	var found []metav1.PartialObjectMetadata
	add := func(m *metav1.PartialObjectMetadata) error {
		found = append(found, *m)
		return t.keep(t.pending)
	}
	err := c.pagesIn(ctx, t, c.apps, namespace, selector, replicaSets.Resource, metadataAccept, MetadataPageSize,
		func(body []byte) (string, error) {
			return list(body, "PartialObjectMetadataList", func(item []byte) error {
				var m metav1.PartialObjectMetadata
				if err := pbPartial(t, item, &m, k); err != nil {
					return err
				}
				return add(&m)
			}, func(d *jsonDec) error {
				var m metav1.PartialObjectMetadata
				if err := jsPartial(t, d, &m, k); err != nil {
					return err
				}
				return add(&m)
			})
		}, func() { found = nil })
	if err != nil {
		return nil, &ListError{What: replicaSets.Resource, Err: err}
	}
	return found, nil
}

// listOwners adds the controllers of the objects of gvr to owners and, when keepAll,
// returns the objects as ReplicaSets are kept (replicaSetKeep).
func (c *Client) listOwners(ctx context.Context, t *tracker, r rest.Interface, gvr schema.GroupVersionResource,
	owners inventory.Owners, keepAll bool) ([]metav1.PartialObjectMetadata, error) {
	k := keep{controller: true}
	if keepAll {
		k = replicaSetKeep()
	}
	var found []metav1.PartialObjectMetadata
	local := inventory.Owners{}
	add := func(m *metav1.PartialObjectMetadata) error {
		kept := int64(0)
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
			local.Add(m)
			kept += int64(len(m.UID)+len(ref.Kind)+len(ref.Name)) + sizeOf[inventory.Owner]() + mapEntrySize
		}
		if keepAll {
			found = append(found, *m)
			return t.keep(kept + t.pending)
		}
		return t.keep(kept)
	}
	err := c.pages(ctx, t, r, gvr.Resource, metadataAccept, MetadataPageSize, func(body []byte) (string, error) {
		return list(body, "PartialObjectMetadataList", func(item []byte) error {
			var m metav1.PartialObjectMetadata
			if err := pbPartial(t, item, &m, k); err != nil {
				return err
			}
			return add(&m)
		}, func(d *jsonDec) error {
			var m metav1.PartialObjectMetadata
			if err := jsPartial(t, d, &m, k); err != nil {
				return err
			}
			return add(&m)
		})
	}, func() { found = nil; clear(local) })
	if err != nil {
		return nil, &ListError{What: gvr.Resource, Err: err}
	}
	maps.Copy(owners, local)
	return found, nil
}

// listNodes fills nodes and reports whether nodes could be listed; a scanner without
// the right to list nodes still scans, with less to show.
func (c *Client) listNodes(ctx context.Context, t *tracker, nodes map[string]inventory.Node) (bool, error) {
	start := t.mark()
	err := c.nodes(ctx, t, "", func(n NodeInfo) int64 {
		info := n.Node()
		nodes[n.Name] = info
		return int64(len(n.Name)+len(info.Arch)+len(info.Runtime)) + sizeOf[inventory.Node]() + mapEntrySize
	}, func() { clear(nodes) })
	if apierrors.IsForbidden(err) {
		clear(nodes)
		t.rewind(start)
		return false, nil
	}
	if err != nil {
		return false, &ListError{What: "nodes", Err: err}
	}
	return true, nil
}

// expired tells an expired continue token: 410 Gone, whose reason (Expired) is known
// only when the Status in the answer was decoded, which DoRaw does not do.
func expired(err error) bool {
	var status apierrors.APIStatus
	return apierrors.IsResourceExpired(err) || errors.As(err, &status) && status.Status().Code == http.StatusGone
}

// maxRestarts bounds how often an expired continue token restarts one list.
const maxRestarts = 3

// paginate calls page with limit and each continue token until the list ends. When a
// continue token has expired (410 Gone), the list cannot resume consistently: reset is
// called and the list starts over, at most maxRestarts times.
func paginate(ctx context.Context, limit int64, page func(metav1.ListOptions) (string, error), reset func()) error {
	restarts := 0
	opts := metav1.ListOptions{Limit: limit}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := page(opts)
		if err != nil {
			if opts.Continue != "" && expired(err) && restarts < maxRestarts {
				restarts++
				reset()
				opts.Continue = ""
				continue
			}
			return err
		}
		if next == "" {
			return nil
		}
		opts.Continue = next
	}
}
