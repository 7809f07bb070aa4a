package kube

import (
	"cmp"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// NodeInfo is what a scan reads of a node, with its UID and the two places that tell
// its architecture apart, so that a watch that follows a node's metadata can read its
// status alone (package watch).
type NodeInfo struct {
	Name string
	UID  types.UID
	// Arch is status.nodeInfo.architecture; ArchLabel is the kubernetes.io/arch label.
	Arch, ArchLabel string
	// Runtime is status.nodeInfo.containerRuntimeVersion.
	Runtime string
}

// Node is the node as a scan records it: the architecture its status tells, else its
// label's, and its container runtime.
func (n NodeInfo) Node() inventory.Node {
	return inventory.Node{Arch: cmp.Or(n.Arch, n.ArchLabel), Runtime: n.Runtime}
}

func infoOf(n *corev1.Node) NodeInfo {
	return NodeInfo{Name: n.Name, UID: n.UID, Arch: n.Status.NodeInfo.Architecture,
		ArchLabel: n.Labels[corev1.LabelArchStable], Runtime: n.Status.NodeInfo.ContainerRuntimeVersion}
}

func nodeInfo(n *corev1.Node) inventory.Node { return infoOf(n).Node() }

// Nodes lists every node as a scan does (pages of NodePageSize, MaxResponseBytes per
// answer, the client's Budget, the scan's decoder).
func (c *Client) Nodes(ctx context.Context) ([]NodeInfo, error) {
	var out []NodeInfo
	err := c.nodes(ctx, newTracker(c.budget), "", func(n NodeInfo) int64 {
		out = append(out, n)
		return n.kept()
	}, func() { out = nil })
	if err != nil {
		return nil, &ListError{What: "nodes", Err: err}
	}
	return out, nil
}

// Node reads the node named name, with the bounds and the decoder of Nodes; found is
// false when there is none. It lists nodes with a field selector on the name rather
// than getting the node, so that the scanner's right to list nodes is all it needs.
func (c *Client) Node(ctx context.Context, name string) (info NodeInfo, found bool, err error) {
	err = c.nodes(ctx, newTracker(c.budget), fieldsel.OneTermEqualSelector("metadata.name", name).String(),
		func(n NodeInfo) int64 {
			if n.Name == name {
				info, found = n, true
			}
			return n.kept()
		}, func() { found = false })
	if err != nil {
		return NodeInfo{}, false, &ListError{What: fmt.Sprintf("node %q", name), Err: err}
	}
	return info, found, nil
}

// kept estimates what a NodeInfo takes, for the budget.
func (n NodeInfo) kept() int64 {
	return int64(len(n.Name)+len(n.UID)+len(n.Arch)+len(n.ArchLabel)+len(n.Runtime)) + sizeOf[NodeInfo]()
}

// nodes lists the nodes that match the field selector (all when empty), calling add
// with each, which returns the bytes it keeps of it; reset is called when the list
// starts over.
func (c *Client) nodes(ctx context.Context, t *tracker, selector string, add func(NodeInfo) int64, reset func()) error {
	keep := func(n *corev1.Node) error { return t.keep(add(infoOf(n))) }
	return c.pagesIn(ctx, t, c.core, "", selector, "nodes", "", NodePageSize, func(body []byte) (string, error) {
		return list(body, "NodeList", func(item []byte) error {
			var n corev1.Node
			if err := pbNode(t, item, &n); err != nil {
				return err
			}
			return keep(&n)
		}, func(d *jsonDec) error {
			var n corev1.Node
			if err := jsNode(t, d, &n); err != nil {
				return err
			}
			return keep(&n)
		})
	}, reset)
}
