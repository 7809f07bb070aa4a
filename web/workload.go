package web

import (
	"fmt"
	"strings"
	"time"
)

// WorkloadView is a workload's page.
type WorkloadView struct {
	Cluster, Namespace, Kind, Name string
	Mutant                         bool
	// MutantSince is when its oldest open mutation was detected.
	MutantSince *time.Time
	MutantKind  string
	// Known is acknowledged or expected when it has mutations but none needs
	// attention; "" otherwise.
	Known      string
	Containers []ContainerView
	// Open are its mutations not resolved: open, acknowledged or expected.
	Open, Past []MutationRow
	Legend     *Legend
	// FoundPod is the pod-name prefix a search found this workload by ("" for none), and
	// FoundCount how many of its containers' pod rows it marks.
	FoundPod   string
	FoundCount int
	// Behind are the references it runs behind their tags: its next restart is likely
	// to change its code.
	Behind []BehindView
}

// BehindView is a reference a workload runs behind its tag: the digests it runs, each
// one the tag moved away from, and where the tag points now in the workload's cluster
// group (its newest move there, at MovedAt).
type BehindView struct {
	Ref     string
	Digests []string
	Tag     string
	MovedAt time.Time
	// TagClusters are the clusters of its group that run Tag now.
	TagClusters []string
}

// ContainerView is one container of a workload across its pods.
type ContainerView struct {
	Name, Type string
	Image      string // as written in the pod spec
	Ref        string // normalized
	Pinned     bool
	Pods       []PodRow
	// Majority is the digest most pods run, and how many of how many.
	Majority      string
	MajorityKind  string
	MajorityCount int
	// Divergent is set when its pods run more than one digest.
	Divergent bool
	// TagNow is the digest the reference last moved to (its newest tag-moved event),
	// and TagMovedAt when; "" when tagdrift never saw it move, or it is pinned.
	TagNow     string
	TagMovedAt *time.Time
}

// CountOf is how many of its pods run digest d.
func (c ContainerView) CountOf(d string) int {
	n := 0
	for _, p := range c.Pods {
		if p.Digest == d {
			n++
		}
	}
	return n
}

// RunningTagNow says how many of its pods run the digest the tag last moved to.
func (c ContainerView) RunningTagNow() string {
	return fmt.Sprintf("; %d of %d pods run it (the newest move tagdrift has seen).", c.CountOf(c.TagNow), len(c.Pods))
}

// NeedsAdvice reports whether the page offers the ways out: its pods disagree, or some
// run another registry digest than the one the tag last moved to (a local image ID or a
// raw imageID says nothing of where the tag points).
func (c ContainerView) NeedsAdvice() bool {
	behind := c.TagNow != "" && c.MajorityKind == "repo" && c.CountOf(c.TagNow) < len(c.Pods)
	return !c.Pinned && (c.Divergent || behind)
}

// Fix is the pinned reference of what most pods run (image@digest), the reference to
// put in the pod spec; "" when there is nothing to pin (already pinned, or the
// majority is a local image ID).
func (c ContainerView) Fix() string {
	if c.Pinned || c.MajorityKind != "repo" || c.Majority == "" || strings.Contains(c.Image, "@") {
		return ""
	}
	return c.Image + "@" + c.Majority
}

// RestartCommand is the kubectl line that restarts the workload's pods, for the kinds
// `kubectl rollout restart` takes; "" for the others.
func (v WorkloadView) RestartCommand() string {
	switch v.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return "kubectl -n " + v.Namespace + " rollout restart " + strings.ToLower(v.Kind) + "/" + v.Name
	}
	return ""
}

// PodRow is one pod running a container.
type PodRow struct {
	Pod, PodUID, Node, Runtime string
	Digest, DigestKind         string
	ImageID                    string
	FirstSeen                  time.Time
	// Odd is set for a pod that runs another digest than the majority of its siblings.
	Odd bool
	// Found marks a pod a search found (WorkloadView.FoundPod); FoundFirst is the first
	// of them, the page's #found.
	Found, FoundFirst bool
}

// NewContainerView groups a container's pods and marks the odd ones: pods whose digest
// is not the one most of them run.
func NewContainerView(name, typ, image, ref string, pinned bool, pods []PodRow) ContainerView {
	c := ContainerView{Name: name, Type: typ, Image: image, Ref: ref, Pinned: pinned, Pods: pods}
	count := map[string]int{}
	kind := map[string]string{}
	var order []string
	for _, p := range pods {
		if count[p.Digest] == 0 {
			order = append(order, p.Digest)
		}
		count[p.Digest]++
		kind[p.Digest] = p.DigestKind
	}
	for _, d := range order {
		if count[d] > c.MajorityCount {
			c.Majority, c.MajorityCount, c.MajorityKind = d, count[d], kind[d]
		}
	}
	c.Divergent = len(order) > 1
	if c.Divergent {
		for i := range c.Pods {
			c.Pods[i].Odd = c.Pods[i].Digest != c.Majority
		}
	}
	return c
}
