package web

import (
	"strings"
	"time"
)

// WorkloadsView is the workloads list: its filters (kept in the URL), one page of
// rows and the next page's cursor.
type WorkloadsView struct {
	Filter   WorkloadFilter
	Clusters []string // for the cluster filter's choices
	Rows     []WorkloadRow
	Next     string // the next page's cursor; "" on the last page
	Legend   *Legend
	Now      time.Time // for the rows' relative times
}

// WorkloadFilter is the workloads list's query.
type WorkloadFilter struct {
	Cluster, Namespace, Kind, Ref string
	Mutant                        bool
	// Sort orders the list on the server: "" or "cluster" (by cluster, namespace, kind,
	// name), "namespace", "name", "kind", "ref", "changed" or "mutant"; Desc reverses it.
	Sort   string
	Desc   bool
	Cursor string
}

// URL is the list with the filter and sort, and cursor for a page ("" for the first).
func (f WorkloadFilter) URL(cursor string) string {
	mutant, order := "", ""
	if f.Mutant {
		mutant = "true"
	}
	if f.Desc {
		order = "desc"
	}
	return WithQuery("/workloads", "cluster", f.Cluster, "namespace", f.Namespace, "kind", f.Kind, "ref", f.Ref,
		"mutant", mutant, "sort", f.Sort, "order", order, "cursor", cursor)
}

// sortKey is the sort in effect.
func (f WorkloadFilter) sortKey() string {
	if f.Sort == "" {
		return "cluster"
	}
	return f.Sort
}

// SortURL is the first page of the list sorted by key: reversed when it is the sort in
// effect and not yet reversed; the last change newest first at the first click.
func (f WorkloadFilter) SortURL(key string) string {
	if key == f.sortKey() {
		f.Desc = !f.Desc
	} else {
		f.Desc = key == "changed"
	}
	f.Sort = key
	if key == "cluster" {
		f.Sort = ""
	}
	return f.URL("")
}

// AriaSort is a column's aria-sort: "ascending" or "descending" when the list is
// sorted by key, else "none".
func (f WorkloadFilter) AriaSort(key string) string {
	switch {
	case key != f.sortKey():
		return "none"
	case f.Desc:
		return "descending"
	}
	return "ascending"
}

// WorkloadRow is a workload in the list.
type WorkloadRow struct {
	Cluster, Namespace, Kind, Name string
	Mutant                         bool
	Pods                           int
	Containers                     []string // container names
	Refs                           []string // normalized references
	Digests                        []string // distinct digests, in the order seen
	Changed                        time.Time
}

// URL is the workload's page.
func (w WorkloadRow) URL() string { return WorkloadURL(w.Cluster, w.Namespace, w.Kind, w.Name) }

// WorkloadView is a workload's page.
type WorkloadView struct {
	Cluster, Namespace, Kind, Name string
	Mutant                         bool
	// MutantSince is when its oldest open mutation was detected.
	MutantSince *time.Time
	MutantKind  string
	Containers  []ContainerView
	Open, Past  []MutationRow
	Legend      *Legend
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

// PodRow is one pod running a container.
type PodRow struct {
	Pod, PodUID, Node, Runtime string
	Digest, DigestKind         string
	ImageID                    string
	FirstSeen                  time.Time
	// Odd is set for a pod that runs another digest than the majority of its siblings.
	Odd bool
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
