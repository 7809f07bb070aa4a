package web

import "time"

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
	Behind                        bool // only workloads behind their tags
	// Sort orders the list on the server: "" or "cluster" (by cluster, namespace, kind,
	// name), "namespace", "name", "kind", "ref", "changed" or "mutant"; Desc reverses it.
	Sort   string
	Desc   bool
	Cursor string
}

// URL is the list with the filter and sort, and cursor for a page ("" for the first).
func (f WorkloadFilter) URL(cursor string) string {
	mutant, behind, order := "", "", ""
	if f.Mutant {
		mutant = "true"
	}
	if f.Behind {
		behind = "true"
	}
	if f.Desc {
		order = "desc"
	}
	return WithQuery("/workloads", "cluster", f.Cluster, "namespace", f.Namespace, "kind", f.Kind, "ref", f.Ref,
		"mutant", mutant, "behind", behind, "sort", f.Sort, "order", order, "cursor", cursor)
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
	Behind                         bool // behind a tag (shown when not mutant)
	Pods                           int
	Containers                     []string // container names
	Refs                           []string // normalized references
	Digests                        []string // distinct digests, in the order seen
	DigestRefs                     []string // the reference each of Digests runs under
	Changed                        time.Time
}

// URL is the workload's page.
func (w WorkloadRow) URL() string { return WorkloadURL(w.Cluster, w.Namespace, w.Kind, w.Name) }
