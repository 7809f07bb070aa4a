// Package kube lists what a scan needs from one cluster: pods, the ReplicaSets and Jobs
// that own them, and nodes, each paginated. It returns an inventory; it decides nothing.
package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// PageSize is how many objects one list request asks for.
const PageSize = 500

// Client settings for a background scanner: protobuf on the wire, and a request rate
// that a scan's few list calls never reach but that keeps a retry storm gentle.
const (
	clientQPS   = 10
	clientBurst = 20
	protobuf    = "application/vnd.kubernetes.protobuf"
)

// Configure sets the content type, rate limits and user agent tagdrift uses on a copy of
// cfg.
func Configure(cfg *rest.Config, userAgent string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = protobuf
	cfg.AcceptContentTypes = protobuf + ",application/json"
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	if userAgent != "" {
		cfg.UserAgent = userAgent
	}
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
	// ReplicaSets are the cluster's ReplicaSets as listed (metadata only), for the
	// annotation of their verdict.
	ReplicaSets []metav1.PartialObjectMetadata
}

// Client lists one cluster.
type Client struct {
	name     string
	core     kubernetes.Interface
	metadata metadata.Interface
}

// NewClient makes a Client for the cluster named name from cfg, which Configure should
// have prepared.
func NewClient(name string, cfg *rest.Config) (*Client, error) {
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", name, err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client for %s: %w", name, err)
	}
	return &Client{name: name, core: core, metadata: meta}, nil
}

var (
	replicaSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	jobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// Scan lists the cluster. ReplicaSets, Jobs and nodes are listed first, concurrently and
// as metadata where metadata suffices; pods are then converted page by page, so a large
// cluster's pod objects are never all held at once. A scan that fails returns no Result:
// a partial listing must never be taken as "these pods are gone".
func (c *Client) Scan(ctx context.Context) (Result, error) {
	owners := inventory.Owners{}
	nodes := map[string]inventory.Node{}
	var nodesListed bool
	// Owners of both kinds share one map; each lister locks around its writes.
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 3)
	var rss []metav1.PartialObjectMetadata
	wg.Go(func() { rss, errs[0] = c.listOwners(ctx, replicaSets, owners, &mu) })
	wg.Go(func() { _, errs[1] = c.listOwners(ctx, jobs, owners, &mu) })
	wg.Go(func() {
		var err error
		nodesListed, err = c.listNodes(ctx, nodes)
		errs[2] = err
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	var res Result
	res.NodesListed, res.ReplicaSets = nodesListed, rss
	b := inventory.NewBuilder(c.name, owners, nodes)
	err := paginate(ctx, func(opts metav1.ListOptions) (string, error) {
		list, err := c.core.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return "", err
		}
		for i := range list.Items {
			p := b.Pod(&list.Items[i])
			res.Containers += len(p.Containers)
			res.Pods = append(res.Pods, p)
		}
		return list.Continue, nil
	}, func() { res = Result{NodesListed: nodesListed, ReplicaSets: rss} })
	if err != nil {
		return Result{}, &ListError{What: "pods", Err: err}
	}
	return res, nil
}

// listOwners adds the controllers of the objects of gvr to owners, and returns the
// objects.
func (c *Client) listOwners(ctx context.Context, gvr schema.GroupVersionResource, owners inventory.Owners, mu *sync.Mutex) ([]metav1.PartialObjectMetadata, error) {
	var found []metav1.PartialObjectMetadata
	err := paginate(ctx, func(opts metav1.ListOptions) (string, error) {
		list, err := c.metadata.Resource(gvr).List(ctx, opts)
		if err != nil {
			return "", err
		}
		found = append(found, list.Items...)
		return list.Continue, nil
	}, func() { found = found[:0] })
	if err != nil {
		return nil, &ListError{What: gvr.Resource, Err: err}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range found {
		owners.Add(&found[i])
	}
	return found, nil
}

// listNodes fills nodes and reports whether nodes could be listed; a scanner without
// the right to list nodes still scans, with less to show.
func (c *Client) listNodes(ctx context.Context, nodes map[string]inventory.Node) (bool, error) {
	err := paginate(ctx, func(opts metav1.ListOptions) (string, error) {
		list, err := c.core.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return "", err
		}
		for i := range list.Items {
			n := &list.Items[i]
			nodes[n.Name] = nodeInfo(n)
		}
		return list.Continue, nil
	}, func() { clear(nodes) })
	if apierrors.IsForbidden(err) {
		clear(nodes)
		return false, nil
	}
	if err != nil {
		return false, &ListError{What: "nodes", Err: err}
	}
	return true, nil
}

func nodeInfo(n *corev1.Node) inventory.Node {
	arch := n.Status.NodeInfo.Architecture
	if arch == "" {
		arch = n.Labels[corev1.LabelArchStable]
	}
	return inventory.Node{Arch: arch, Runtime: n.Status.NodeInfo.ContainerRuntimeVersion}
}

// maxRestarts bounds how often an expired continue token restarts one list.
const maxRestarts = 3

// paginate calls page with PageSize and each continue token until the list ends. When a
// continue token has expired (410 Gone), the list cannot resume consistently: reset is
// called and the list starts over.
func paginate(ctx context.Context, page func(metav1.ListOptions) (string, error), reset func()) error {
	restarts := 0
	opts := metav1.ListOptions{Limit: PageSize}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := page(opts)
		if err != nil {
			if opts.Continue != "" && apierrors.IsResourceExpired(err) && restarts < maxRestarts {
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
